"""The measurements that `benchmark.py`'s table and its GPU check (`gpu_check.py`) both take.

One module that imports neither, so the dependency runs one way: benchmark.py (the entry point) imports
gpu_check and this module, gpu_check imports this module. Each function measures one thing on a device
it is given (a training step, an evaluation, the data time per batch, a noisy-label epoch, a driver run
in a child process) or estimates from such measurements (the grid's hours); reports are left to the callers.
"""
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from code_used_upload.data.cifar import MEAN, STD
from code_used_upload.evaluation.inference import predict_with_recipe
from code_used_upload.evaluation.noisy_labels import test_accuracy
from code_used_upload.models import build_model, model_recipe
from code_used_upload.models.noisy import build_noisy_model, noisy_setup
from code_used_upload.training.augment import augment
from code_used_upload.training.crops import random_crops
from code_used_upload.training.device import training_autocast
from code_used_upload.training.loop import make_optimizer, training_step

N_LABELS = 71  # task "all"
CROP = 250  # 2.5 s at 100 Hz
RECORD_SAMPLES = 1000
# Training records (folds 1-8) and evaluated records (validation fold 9 + test fold 10) of each task
# of PTB-XL 1.0.1 after the benchmark drops records without a label. all and the three diagnostic
# levels are the published split sizes; form and rhythm are 80% / 20% of their records with a label.
TASK_RECORDS = {
    "all": (17441, 4396),
    "diagnostic": (17084, 4304),
    "subdiagnostic": (17084, 4304),
    "superdiagnostic": (17084, 4304),
    "form": (7182, 1796),
    "rhythm": (16824, 4206),
}
# benchmark.py's sizes, --quick and full; the GPU check's table starts from FULL's
QUICK = dict(records=500, batch_size=32, warmup=1, steps=2, eval_records=64, data_batches=10)
FULL = dict(records=21837, batch_size=128, warmup=3, steps=10, eval_records=512, data_batches=50)


def clock(device):
    """perf_counter after every queued kernel has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


# ---------------------------------------------------------------- batches

class PerSampleCrops(Dataset):
    """The usual way: one random 2.5 s crop per item in Python, collated by a DataLoader."""

    def __init__(self, signals, targets, length):
        self.signals, self.targets, self.length = signals, targets, length  # signals (records, time, leads)

    def __len__(self):
        return len(self.signals)

    def __getitem__(self, i):
        start = np.random.randint(0, self.signals.shape[1] - self.length + 1)
        crop = np.ascontiguousarray(self.signals[i, start:start + self.length].T)
        return torch.from_numpy(crop), torch.from_numpy(self.targets[i])


def measure_batches(signals, targets, batch_size, n_batches, device):
    """Milliseconds per training batch (crops + labels on the device): per-sample loader vs resident gather."""
    n_batches = max(1, min(n_batches, len(signals) // batch_size - 1))
    loader = DataLoader(PerSampleCrops(signals, targets, CROP), batch_size=batch_size, shuffle=True,
                        num_workers=0, drop_last=True)
    batches = iter(loader)
    next(batches)  # warm-up
    started = clock(device)
    for _ in range(n_batches):
        x, y = next(batches)
        x, y = x.to(device), y.to(device)
    loader_ms = (clock(device) - started) / n_batches * 1e3

    resident = torch.from_numpy(np.ascontiguousarray(signals.transpose(0, 2, 1))).to(device)
    resident_targets = torch.from_numpy(targets).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    order = torch.randperm(len(signals), device=device, generator=generator)
    random_crops(resident, order[:batch_size], CROP, generator)  # warm-up
    started = clock(device)
    for step in range(1, n_batches + 1):
        rows = order[step * batch_size:(step + 1) * batch_size]
        x, y = random_crops(resident, rows, CROP, generator), resident_targets[rows]
    ours_ms = (clock(device) - started) / n_batches * 1e3
    return {"loader_ms": loader_ms, "ours_ms": ours_ms}


# ---------------------------------------------------------------- models

def random_task(n, generator, device):
    """A batch of crops and sparse multi-hot labels (about 10% positive, as PTB-XL's labels are)."""
    x = torch.randn(n, 12, CROP, generator=generator).to(device)
    y = (torch.rand(n, N_LABELS, generator=generator) < 0.1).float().to(device)
    return x, y


def measure_step(name, batch_size, warmup, steps, device, precision="tf32"):
    """Mean milliseconds of one training step (forward, loss, backward, clip, optimizer, schedule).

    `precision` goes to the training step (bf16 autocast on CUDA); the TF32 switches are process-wide,
    set beforehand by `training.device.configure_numerics` where they matter (the GPU check)."""
    torch.manual_seed(0)
    recipe = model_recipe(name)
    model = build_model(name, N_LABELS).to(device).train()
    optimizer, schedule = make_optimizer(model, recipe, warmup + steps + 1)
    x, y = random_task(batch_size, torch.Generator().manual_seed(0), device)

    for _ in range(warmup):
        training_step(model, x, y, optimizer, schedule, recipe.clip, precision)
    started = clock(device)
    for _ in range(steps):
        training_step(model, x, y, optimizer, schedule, recipe.clip, precision)
    return (clock(device) - started) / steps * 1e3, model


def windows_per_record(name):
    """Evaluation windows of a 10 s record under the model's recipe: 7 for the benchmark's, 4 for S4's."""
    recipe = model_recipe(name)
    return (RECORD_SAMPLES - recipe.window(100)) // recipe.stride(100) + 1


def measure_evaluation(name, model, n_records, device):
    """Windows per second of the model's evaluation (its recipe's windows) on `n_records` records of 10 s."""
    signals = torch.randn(n_records, RECORD_SAMPLES, 12, generator=torch.Generator().manual_seed(1))
    predict_with_recipe(model, signals[:2], model_recipe(name), 100, device)  # warm-up
    started = clock(device)
    predict_with_recipe(model, signals, model_recipe(name), 100, device)
    seconds = clock(device) - started
    return n_records * windows_per_record(name) / seconds


def grid_hours(step_ms, windows_per_s, data_ms, batch_size):
    """Hours for every measured model x 6 tasks x 1 seed x its recipe's epochs: training steps, batches,
    evaluation (validation + test once; a recipe keeping its best checkpoint validates every epoch, and
    the validation fold is about half of the evaluated records)."""
    seconds = 0.0
    for name in step_ms:
        recipe = model_recipe(name)
        evaluations = 1 + (recipe.epochs / 2 if recipe.checkpoint == "best_val_auc" else 0)
        for train_records, eval_records in TASK_RECORDS.values():
            steps = (train_records // batch_size) * recipe.epochs
            seconds += steps * (step_ms[name] + data_ms) / 1e3
            seconds += evaluations * eval_records * windows_per_record(name) / windows_per_s[name]
    return seconds / 3600


# ---------------------------------------------------------------- noisy labels (HMW)

CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000


def measure_noisy_epoch(method, device, precision="tf32", batch_size=128, warmup=3, steps=10, resident=4096,
                        test_images=1024):
    """One CIFAR-10 epoch of `method` (PreAct-ResNet18, the authors' recipe) on random uint8 images resident
    on `device`, as the noisy-label loop runs it: milliseconds of a training step (crop, flip and normalise
    on the device, forward, the method's loss, backward, SGD) and of the HMW head's training call alone,
    the test set's evaluation in seconds, and the estimated seconds of an epoch and of the recipe's run."""
    torch.manual_seed(0)
    recipe = noisy_setup("cifar10").recipe
    model = build_noisy_model("cifar10", method, 10, CIFAR_TRAIN, recipe.epochs, recipe, confidence_penalty=False)
    model = model.to(device).train()
    optimizer, schedule = make_optimizer(model, recipe, recipe.epochs * 1000, 1000)
    generator = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(0, 256, (resident, 3, 32, 32), dtype=torch.uint8, device=device, generator=generator)
    labels = torch.randint(0, 10, (resident,), device=device, generator=generator)
    mean, std = MEAN["cifar10"], STD["cifar10"]

    def step(number):
        rows = torch.randint(0, resident, (batch_size,), device=device, generator=generator)
        with training_autocast(device, precision):
            logits, _, weights = model.training_outputs(augment(images, rows, mean, std, generator), labels[rows],
                                                        rows, epoch=number % recipe.epochs)
        loss = model.loss(logits, weights, labels[rows], epoch=recipe.unweighted_epochs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()

    for number in range(warmup):
        step(number)
    started = clock(device)
    for number in range(steps):
        step(number)
    step_ms = (clock(device) - started) / steps * 1e3
    head_ms = float("nan")
    if model.weighted:
        features = torch.randn(batch_size, model.backbone.out_features, device=device, generator=generator)
        rows = torch.arange(batch_size, device=device)
        started = clock(device)
        for _ in range(steps):
            model.head(features, labels[:batch_size], rows, 5)
        head_ms = (clock(device) - started) / steps * 1e3
    test = images[:min(resident, test_images)]
    started = clock(device)
    test_accuracy(model, test, labels[:len(test)].cpu().numpy(), mean, std)
    test_s = (clock(device) - started) * CIFAR_TEST / len(test)
    epoch_s = math.ceil(CIFAR_TRAIN / batch_size) * step_ms / 1e3 + test_s
    return {"step_ms": step_ms, "head_ms": head_ms, "test_s": test_s, "epoch_s": epoch_s, "run_s": recipe.epochs * epoch_s}


# ---------------------------------------------------------------- driver processes

DRIVER = Path(__file__).with_name("order_results_ptbxl1_upload.py")
REPOSITORY = DRIVER.resolve().parents[1]


def run_driver(argv, log, timeout_s=None):
    """(seconds, peak resident bytes) of the driver with `argv` as a fresh child process, its output in
    `log`. The peak is what /usr/bin/time reports: the rusage wait4 gives for that one child (its
    largest resident set, its descendants included; Linux reports it in KiB). Raises RuntimeError with
    the end of the log if the driver fails or runs past `timeout_s`; then the child's whole process
    group (Ray's processes included) is stopped, so nothing outlives it."""
    started = time.perf_counter()
    with open(log, "w") as output:
        child = subprocess.Popen([sys.executable, str(DRIVER), *argv], cwd=REPOSITORY, stdout=output,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while True:  # wait4, not Popen.wait: only wait4 gives the child's rusage
                pid, status, usage = os.wait4(child.pid, 0 if timeout_s is None else os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > timeout_s:
                    raise subprocess.TimeoutExpired(child.args, timeout_s)
                time.sleep(0.05)
        except BaseException as error:  # a timeout, or Ctrl-C: the child runs in its own session
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            if isinstance(error, subprocess.TimeoutExpired):
                raise RuntimeError(f"the driver ran past {timeout_s} s and was stopped; the end of its log:\n"
                                   f"{log_tail(log)}") from None
            raise
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"the driver exited with status {child.returncode}; the end of its log:\n{log_tail(log)}")
    return seconds, usage.ru_maxrss * 1024


def log_tail(path, lines=30):
    """The last lines of a log, progress bars' carriage returns read as line ends."""
    text = Path(path).read_text(errors="replace").replace("\r", "\n")
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])

