"""The measurements that `benchmark.py`'s table and its GPU check (`gpu_check.py`) both take.

One module that imports neither, so the dependency runs one way: benchmark.py (the entry point) imports
gpu_check and this module, gpu_check imports this module. Each function measures one thing on a device
it is given (a training step, an evaluation, the data time per batch, a noisy-label epoch, UniCon's
iteration and batches, a driver run in a child process) or estimates from such measurements (the grid's
hours, a CIFAR run's); reports are left to the callers.
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
from code_used_upload.evaluation.noisy_labels import predict_logits, test_accuracy
from code_used_upload.experiments.noisy_run import NoiseSetting, resolve_run
from code_used_upload.models import build_model, model_recipe
from code_used_upload.models.noisy import build_noisy_model
from code_used_upload.models.preact_resnet import preact_resnet18
from code_used_upload.models.unicon import UniConNet
from code_used_upload.training.augment import augment
from code_used_upload.training.crops import random_crops
from code_used_upload.training.device import training_autocast
from code_used_upload.training.loop import make_optimizer, training_step
from code_used_upload.training.unicon import unicon_train_step, unicon_warmup_step
from code_used_upload.training.unicon_loop import EVAL_BATCH
from code_used_upload.training.unicon_views import unicon_view

N_LABELS = 71  # task "all"
CIFAR10_SYM = NoiseSetting("cifar10", "sym", 0.5)  # the noisy-label measurements' setting (its recipe is CIFAR-10's)
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
    run = resolve_run(CIFAR10_SYM, method, 0)
    recipe = run.recipe
    model = build_noisy_model(run.arch, method, 10, CIFAR_TRAIN, recipe.epochs, recipe.unweighted_epochs, run.sce)
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


def cifar10_unicon_recipe():
    """The UniConRecipe of `train_hmw.py --dataset cifar10 --method uc` (or hmw+uc) with the recipe's defaults:
    251 epochs (the authors' 0..250), 10 of warm-up, labelled batches of 64, warm-up batches of 128, crop and
    flip, then AutoAugment's CIFAR-10 policy as the strong view."""
    return resolve_run(CIFAR10_SYM, "uc", 0).recipe


def measure_unicon_epoch(method, device, warmup=3, steps=10, resident=4096, eval_images=1000, selection_rate=0.5,
                         backbone=preact_resnet18):
    """A CIFAR-10 run of UniCon (`uc`) or HMW + UniCon (`hmw+uc`) on `device`, measured in its pieces on random
    uint8 images resident there and estimated from them, as training/unicon_loop.py runs it with
    `cifar10_unicon_recipe()`; `backbone()` builds each network's backbone (a narrower one for a fast test).

    Measured, in milliseconds, the mean of `steps` after `warmup` untimed:
    - warmup_ms, a warm-up batch: the weak view of 128 images and `unicon_warmup_step`;
    - eval_ms, an evaluation batch of 100: a forward pass without gradient, what the JSD and the test take;
    - views_ms and step_ms, one iteration of net against other in its two parts, timed apart: the views (the
      weak and the strong view, twice each, of Bx labelled and Bu unlabelled rows, made by `unicon_view` on
      the device in two calls as the loop makes them), then `unicon_train_step` (7 forward passes of net and
      2 of other, backward, SGD). Bx = 64, the recipe's batch; Bu = int(Bx / (2 SR)), 64 at the selection
      rate SR = 0.5, where the labelled set is SR N = 25,000 images.

    Estimated, in seconds, with N = 50,000 training and 10,000 test images, E = 251 epochs, W = 10 of warm-up:
        test_s            = 2 networks x 10,000 / 100 x eval_ms
        warmup_epoch_s    = 2 networks x ceil(N / 128) x warmup_ms + test_s
        selection_epoch_s = 2 JSD passes x 2 networks x N / 100 x eval_ms
                            + 2 networks x (SR N // Bx) x (views_ms + step_ms) + test_s
        run_s             = W x warmup_epoch_s + (E - W) x selection_epoch_s
    The selections' sorting, the draws and the checkpoints are left out: small beside the forward passes.

    Also checked, because only a run on the device would otherwise show it: `losses_finite`, every iteration's
    loss finite; `other_unchanged`, the co-guessing network's parameters and buffers bit for bit as before.
    No autocast: UniCon trains in float32 under every precision, so only the TF32 switches that the caller
    set (training.device.configure_numerics) matter. The mix rate and the refinement weights are fixed:
    the time does not depend on them."""
    torch.manual_seed(0)
    recipe = cifar10_unicon_recipe()
    classes = 10
    net, other = (UniConNet(backbone(), classes, method, CIFAR_TRAIN, recipe.epochs).to(device) for _ in range(2))
    optimizer = torch.optim.SGD(net.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    generator = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(0, 256, (resident, 3, 32, 32), dtype=torch.uint8, device=device, generator=generator)
    labels = torch.randint(0, classes, (resident,), device=device, generator=generator)
    mean, std = MEAN["cifar10"], STD["cifar10"]
    batch_x = recipe.batch_size
    batch_u = int(batch_x / (2 * selection_rate))
    iterations = int(selection_rate * CIFAR_TRAIN) // batch_x
    weights_x = torch.linspace(0.5, 1.0, batch_x, device=device)

    def rows(size):
        return torch.randint(0, resident, (size,), device=device, generator=generator)

    def warm_up_batch():
        batch = rows(recipe.warmup_batch_size)
        weak = unicon_view(recipe.weak_view, images, batch, mean, std, generator)
        unicon_warmup_step(net, optimizer, weak, labels[batch], batch, epoch=0)

    def views():
        rows_x, rows_u = rows(batch_x), rows(batch_u)
        both = torch.cat([rows_x, rows_x, rows_u, rows_u])
        sizes = [batch_x, batch_x, batch_u, batch_u]
        x1, x2, u1, u2 = unicon_view(recipe.weak_view, images, both, mean, std, generator).split(sizes)
        x3, x4, u3, u4 = unicon_view(recipe.strong_view, images, both, mean, std, generator).split(sizes)
        return labels[rows_x], (x1, x2, x3, x4), (u1, u2, u3, u4)

    def step(labels_x, views_x, views_u):
        mixed = 2 * (batch_x + batch_u)
        drop_pos = torch.randint(0, classes - 1, (mixed,), device=device, generator=generator) if net.weighted else None
        return unicon_train_step(net, other, optimizer, views_x, labels_x, weights_x, views_u,
                                 epoch=recipe.epochs - 1, batch_idx=0, num_iter=iterations + 1,
                                 warm_up=recipe.warm_up, beta_draw=0.7,
                                 perm=torch.randperm(mixed, device=device, generator=generator),
                                 drop_pos=drop_pos)["loss"]

    for _ in range(warmup):
        warm_up_batch()
    started = clock(device)
    for _ in range(steps):
        warm_up_batch()
    warmup_ms = (clock(device) - started) / steps * 1e3

    before = {name: value.clone() for name, value in other.state_dict().items()}
    losses = [step(*views()) for _ in range(warmup)]
    started = clock(device)
    made = [views() for _ in range(steps)]
    views_ms = (clock(device) - started) / steps * 1e3
    started = clock(device)
    losses += [step(*batch) for batch in made]
    step_ms = (clock(device) - started) / steps * 1e3
    other_unchanged = all(torch.equal(value, before[name]) for name, value in other.state_dict().items())

    test = images[:eval_images]
    predict_logits(net, test[:EVAL_BATCH], mean, std, EVAL_BATCH)  # warm-up: cuDNN tunes the batch of 100
    started = clock(device)
    predict_logits(net, test, mean, std, EVAL_BATCH)  # eval mode, no gradient, as the JSD and the test
    eval_ms = (clock(device) - started) / math.ceil(len(test) / EVAL_BATCH) * 1e3

    test_s = 2 * math.ceil(CIFAR_TEST / EVAL_BATCH) * eval_ms / 1e3
    warmup_epoch_s = 2 * math.ceil(CIFAR_TRAIN / recipe.warmup_batch_size) * warmup_ms / 1e3 + test_s
    selection_epoch_s = (2 * 2 * math.ceil(CIFAR_TRAIN / EVAL_BATCH) * eval_ms
                         + 2 * iterations * (views_ms + step_ms)) / 1e3 + test_s
    return {"batch_x": batch_x, "batch_u": batch_u, "iterations": iterations, "epochs": recipe.epochs,
            "warm_up": recipe.warm_up, "warmup_ms": warmup_ms, "eval_ms": eval_ms, "views_ms": views_ms,
            "step_ms": step_ms, "iteration_ms": views_ms + step_ms, "test_s": test_s,
            "warmup_epoch_s": warmup_epoch_s, "selection_epoch_s": selection_epoch_s,
            "run_s": recipe.warm_up * warmup_epoch_s + (recipe.epochs - recipe.warm_up) * selection_epoch_s,
            "losses_finite": bool(torch.isfinite(torch.stack(losses)).all()), "other_unchanged": other_unchanged}


# ---------------------------------------------------------------- driver processes

DRIVER = Path(__file__).with_name("order_results_ptbxl1_upload.py")
REPOSITORY = DRIVER.resolve().parents[1]
# Runs a script (argv: peak file, script, its arguments) and writes, at exit, the high-water mark of the
# process's own memory map: Linux's VmHWM. Not the rusage a parent gets from wait4, nor the process's own
# getrusage: Linux carries the spawning process's peak across fork and exec into both, so a driver
# spawned by a 4 GB test process would report 4 GB. Elsewhere the process's own ru_maxrss (macOS: bytes).
PEAK_REPORTER = """
import atexit, resource, runpy, sys
peak_file = sys.argv.pop(1)
def write_peak():
    try:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(peak_file, "w") as out:
        out.write(str(peak))
atexit.register(write_peak)
sys.argv.pop(0)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_driver(argv, log, timeout_s=None, script=DRIVER):
    """(seconds, peak resident bytes) of the driver (or another entry point, `script`) with `argv` as a fresh
    child process, its output in `log`. The peak is the driver process's own (PEAK_REPORTER; a Ray run's workers are not in it).
    Raises RuntimeError with the end of the log if the driver fails or runs past `timeout_s`; then the
    child's whole process group (Ray's processes included) is stopped, so nothing outlives it."""
    started = time.perf_counter()
    peak_file = Path(log).with_name(Path(log).name + ".peak")
    try:
        with open(log, "w") as output:
            child = subprocess.Popen([sys.executable, "-c", PEAK_REPORTER, str(peak_file), str(script), *argv],
                                     cwd=REPOSITORY, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                child.wait(timeout=timeout_s)
            except BaseException as error:  # a timeout, or Ctrl-C: the child runs in its own session
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                if isinstance(error, subprocess.TimeoutExpired):
                    raise RuntimeError(f"the driver ran past {timeout_s} s and was stopped; the end of its log:\n"
                                       f"{log_tail(log)}") from None
                raise
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            raise RuntimeError(f"the driver exited with status {child.returncode}; the end of its log:\n{log_tail(log)}")
        return seconds, int(peak_file.read_text())
    finally:
        peak_file.unlink(missing_ok=True)


def log_tail(path, lines=30):
    """The last lines of a log, progress bars' carriage returns read as line ends."""
    text = Path(path).read_text(errors="replace").replace("\r", "\n")
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


# ---------------------------------------------------------------- your own images

TRAIN_HMW = Path(__file__).with_name("train_hmw.py")


def measure_image_memory(scratch, per_class=(10, 667), side=160, arch="mlp", batch_size=16):
    """{images: (seconds, peak resident bytes, the folder's pixel bytes)} of a one-epoch `train_hmw.py` run on a
    folder of photographs of `side` px (data/photos.py: three classes, `per_class` images each, 30 and 2,001
    by default) in a fresh child process each, with the same network and batch, so that what the peaks
    differ by is what holding the images costs."""
    from code_used_upload.data.photos import CLASSES, write_photo_folder

    results = {}
    for count in per_class:
        images = count * len(CLASSES)
        folder = write_photo_folder(Path(scratch) / f"photos{images}", count, side)
        flags = ["--dataset", "imagefolder", "--data_path", str(folder), "--image_size", str(side), "--arch", arch,
                 "--batch_size", str(batch_size), "--num_epochs", "1", "--device", "cpu",
                 "--check_loc", str(Path(scratch) / f"run{images}")]
        seconds, peak = run_driver(flags, Path(scratch) / f"run{images}.log", script=TRAIN_HMW)
        results[images] = (seconds, peak, images * 3 * side * side)
    return results
