"""How fast is this toolkit, and how long will the paper's grid take here? One table, measured now.

    python code_used_upload/benchmark.py                 # 21,837 synthetic records, every registered model (the 12, S4), batch 128
    python code_used_upload/benchmark.py --quick         # small, under a minute on 2 CPU cores
    python code_used_upload/benchmark.py --models fcn_wang,fcn_wang_ldm --output benchmark.md
    python code_used_upload/benchmark.py --gpu-check     # a CUDA machine: -> gpu-check.md (see gpu_check.py)
    python code_used_upload/benchmark.py --memory        # peak memory of prepare and of one cell, 100 and 500 Hz
    python code_used_upload/benchmark.py --hmw           # HMW on CIFAR-shaped data: step, epoch, a 250-epoch run

Each comparison runs both sides in this process, on this machine, one after the other, so the ratios
are meaningful even where the absolute times are not. Loading uses a synthetic PTB-XL (the release's
formats) written once into a temporary folder; its files are in the OS page cache for both readers.
"""
import argparse
import hashlib
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the package importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
import wfdb
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from code_used_upload.data.cifar import MEAN, STD
from code_used_upload.data.ptbxl import load_database, load_signals
from code_used_upload.data.synthetic import write_synthetic_ptbxl
from code_used_upload.errors import UserError
from code_used_upload.evaluation.inference import predict_with_recipe
from code_used_upload.evaluation.noisy_labels import test_accuracy
from code_used_upload.models import available_models, build_model, model_recipe, split_model_name
from code_used_upload.models.noisy import build_noisy_model, noisy_setup
from code_used_upload.reports.tables import table_models
from code_used_upload.training.augment import augment
from code_used_upload.training.crops import random_crops
from code_used_upload.training.device import configure_numerics, resolve_device, training_autocast
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
QUICK = dict(records=500, batch_size=32, warmup=1, steps=2, eval_records=64, data_batches=10)
FULL = dict(records=21837, batch_size=128, warmup=3, steps=10, eval_records=512, data_batches=50)


def clock(device):
    """perf_counter after every queued kernel has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


# ---------------------------------------------------------------- loading

def load_like_reference(datafolder, database):
    """The benchmark's load_raw_data: one `wfdb.rdsamp` per record, in order, stacked."""
    signals = [wfdb.rdsamp(str(Path(datafolder) / name))[0] for name in database["filename_lr"]]
    return np.array(signals)


CACHED_LOAD_SCRIPT = """
import hashlib, sys, time
import numpy as np
from code_used_upload.data.cifar import MEAN, STD
from code_used_upload.data.ptbxl import load_database, load_signals
database = load_database(sys.argv[1])
started = time.perf_counter()
mapped = load_signals(sys.argv[1], database, 100, cache_dir=sys.argv[2], progress=False)
opened = time.perf_counter() - started
array = np.array(mapped)
print(opened, time.perf_counter() - started, hashlib.sha256(array.tobytes()).hexdigest())
"""


def measure_cached_load_in_new_process(datafolder, cache):
    """(seconds to open the cache, seconds to have it in RAM, sha256 of the array), measured as the next
    run meets it: in a fresh process, not in the one that has just written the file."""
    root = str(Path(__file__).resolve().parents[1])
    output = subprocess.run([sys.executable, "-c", CACHED_LOAD_SCRIPT, str(datafolder), str(cache)], cwd=root,
                            env={**os.environ, "PYTHONPATH": root}, check=True, capture_output=True, text=True)
    opened, loaded, digest = output.stdout.split()
    return float(opened), float(loaded), digest


def measure_loading(datafolder, cache, workers):
    """Seconds for the reference loop, our cold load (into the empty folder `cache`) and our cached load,
    whether all three arrays agree, and our array."""
    database = load_database(datafolder)
    started = time.perf_counter()
    reference = load_like_reference(datafolder, database)
    reference_s = time.perf_counter() - started

    started = time.perf_counter()
    ours = load_signals(datafolder, database, 100, cache_dir=cache, workers=workers, progress=False)
    cold_s = time.perf_counter() - started
    cached_open_s, cached_s, cached_sha256 = measure_cached_load_in_new_process(datafolder, cache)

    identical = (np.array_equal(reference.astype(np.float32), ours, equal_nan=True)
                 and cached_sha256 == hashlib.sha256(np.ascontiguousarray(ours).tobytes()).hexdigest())
    return {"reference_s": reference_s, "cold_s": cold_s, "cached_s": cached_s, "cached_open_s": cached_open_s, "identical": bool(identical)}, ours


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


def run_hmw(args):
    """--hmw: the noisy-label step, epoch and run estimate of cce and hmw+cce on this device, as a table."""
    device = resolve_device(args.device)
    configure_numerics("tf32", threads=torch.get_num_threads())
    steps, warmup = (args.steps or 3, args.warmup or 1) if args.quick else (args.steps or 10, args.warmup or 3)
    results = {method: measure_noisy_epoch(method, device, steps=steps, warmup=warmup) for method in ("cce", "hmw+cce")}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})"
    lines = [f"HMW on {name}, torch {torch.__version__}, {torch.get_num_threads()} threads: PreAct-ResNet18, CIFAR-10 "
             f"shapes, batch 128, mean of {steps} steps", "",
             "| method | training step | HMW head call | test set | epoch (estimated) | 250-epoch run (estimated) |",
             "|---|---|---|---|---|---|"]
    for method, r in results.items():
        head = "-" if math.isnan(r["head_ms"]) else f"{r['head_ms']:.2f} ms"
        lines.append(f"| {method} | {r['step_ms']:.1f} ms | {head} | {r['test_s']:.1f} s | {r['epoch_s']:.0f} s | "
                     f"{r['run_s'] / 3600:.2f} h |")
    ratio = results["hmw+cce"]["step_ms"] / results["cce"]["step_ms"]
    table = "\n".join(lines + ["", f"hmw+cce step / cce step: {ratio:.2f}x (measured one after the other in this run)"]) + "\n"
    print(table)
    if args.output:
        Path(args.output).write_text(table)
    return {"results": results, "table": table}


# ---------------------------------------------------------------- memory

DRIVER = Path(__file__).with_name("order_results_ptbxl1_upload.py")
REPOSITORY = DRIVER.resolve().parents[1]
MEMORY_RATES = (100, 500)
MEMORY_RUNS = {  # name: (driver flags, what the row says, what the run holds)
    "cold_prepare": (["--prepare-only"], "cold --prepare-only, 6 tasks",
                     "reads PTB-XL, writes the signal cache and its per-record moments"),
    "warm_prepare": (["--prepare-only"], "warm --prepare-only, 6 tasks",
                     "labels, folds and scalers from the cache's memory map and moments"),
    "cell": (["--models", "fcn_wang", "--tasks", "rhythm", "--seeds", "0", "--epochs", "1", "--device", "cpu"],
             "one CPU cell: fcn_wang, rhythm, 1 epoch", "the raw training signals on the device, and the memory map"),
}


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


def measure_memory(records, batch_size, scratch, rates=MEMORY_RATES):
    """Per sampling rate: the signal cache's bytes and the (seconds, peak resident bytes) of each of
    MEMORY_RUNS, one after another in fresh child processes, on a synthetic PTB-XL of `records` records."""
    results = {}
    for rate in rates:
        folder = Path(scratch) / f"{rate}hz"
        datafolder = write_synthetic_ptbxl(folder / "ptbxl", n_records=records, seed=0, sampling_frequencies=(rate,))
        common = ["--datafolder", str(datafolder), "--outputfolder", str(folder / "outputs"), "--sampling_frequency",
                  str(rate), "--batch_size", str(batch_size)]
        try:
            results[rate] = {name: run_driver(common + flags, folder / f"{name}.log")
                             for name, (flags, _, _) in MEMORY_RUNS.items()}
        except RuntimeError as error:
            raise UserError(f"--memory at {rate} Hz: {error}") from None
        results[rate]["cache_bytes"] = (folder / "outputs" / "cache" / f"signals_{rate}hz.npy").stat().st_size
        shutil.rmtree(folder)  # a full 500 Hz PTB-XL and its cache take 8 GB of disk
    return results


def build_memory_rows(results, records):
    """(measurement, ours, compared with, ratio, notes) rows: each run's peak beside the cache's size."""
    rows = []
    for rate, measured in results.items():
        cache = measured["cache_bytes"]
        for name, (_, label, notes) in MEMORY_RUNS.items():
            seconds, peak = measured[name]
            rows.append((f"{label}, {records} records at {rate} Hz",
                         f"{peak / 1e9:.2f} GB peak RSS in {format_seconds(seconds)}",
                         f"signal cache {cache / 1e9:.2f} GB", f"{peak / cache:.2f}x the cache", notes))
    return rows


def run_memory(args):
    """The --memory table: printed, written with --output; returns its results, rows and table."""
    size = QUICK if args.quick else FULL
    records = args.records or size["records"]
    batch_size = args.batch_size or size["batch_size"]
    settings = {"device_name": f"CPU ({platform.processor() or platform.machine()})", "load": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="ptbxl-memory-") as scratch:
        results = measure_memory(records, batch_size, scratch)
    rows = build_memory_rows(results, records)
    table = render_table(rows, settings)
    print(table)
    if args.output:
        Path(args.output).write_text(table)
    return {"memory": results, "rows": rows, "table": table}


# ---------------------------------------------------------------- the table

def format_seconds(seconds):
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def build_rows(results, settings):
    """(measurement, ours, compared with, ratio, notes) rows of the table."""
    loading, batches, steps, evals = results["loading"], results["batches"], results["step_ms"], results["windows_per_s"]
    n = settings["records"]
    rows = [
        (f"cold load, {n} records at 100 Hz", format_seconds(loading["cold_s"]),
         f"wfdb.rdsamp loop {format_seconds(loading['reference_s'])}",
         f"{loading['reference_s'] / loading['cold_s']:.1f}x faster",
         f"arrays identical: {'yes' if loading['identical'] else 'NO'}; {settings['workers']} workers"),
        ("cached load (second load, read into memory)", format_seconds(loading["cached_s"]), "", "",
         f"a fresh process, as the next run: memory map opened in {format_seconds(loading['cached_open_s'])}, then copied into RAM"),
        (f"data time per batch of {settings['batch_size']}", f"{batches['ours_ms']:.3f} ms",
         f"per-sample Dataset + DataLoader {batches['loader_ms']:.2f} ms",
         f"{batches['loader_ms'] / batches['ours_ms']:.1f}x faster", "random 2.5 s crops + labels, on the device"),
    ]
    for name, ms in steps.items():
        base, is_ldm = split_model_name(name)
        compared, ratio = "", ""
        if is_ldm and base in steps:
            compared, ratio = f"{base} {steps[base]:.1f} ms", f"{ms / steps[base]:.2f}x (LDM/baseline)"
        rows.append((f"training step {name}", f"{ms:.1f} ms", compared, ratio,
                     f"{N_LABELS} labels, batch {settings['batch_size']}, mean of {settings['steps']} steps"))
    for name, rate in evals.items():
        rows.append((f"evaluation {name}", f"{rate:,.0f} windows/s", "", "",
                     f"{settings['eval_records']} records x {windows_per_record(name)} windows, the recipe's aggregation"))
    rows.append((f"estimated grid: {len(steps)} models x 6 tasks x 1 seed x each recipe's epochs",
                 f"{results['grid_hours']:.2f} h", "", "",
                 f"steps/epoch = train records // {settings['batch_size']}; train records per task "
                 f"{', '.join(f'{t} {r[0]}' for t, r in TASK_RECORDS.items())} (approximate); "
                 "training at 71 labels for every task; excludes bootstrap and start-up"))
    return rows


def render_table(rows, settings):
    header = (f"Benchmark on {settings['device_name']}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"load average {settings['load']:.2f} at start ({os.cpu_count()} CPUs)\n\n")
    lines = ["| measurement | ours | compared with | ratio | notes |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return header + "\n".join(lines) + "\n"


def run_benchmark(args):
    """Every measurement; returns (results dict, table rows, settings)."""
    size = QUICK if args.quick else FULL
    settings = {key: getattr(args, key) if getattr(args, key) is not None else value for key, value in size.items()}
    device = resolve_device(args.device)
    configure_numerics("tf32", threads=torch.get_num_threads())  # as a cell with the default precision runs
    settings.update(workers=args.workers or os.cpu_count() or 1, load=os.getloadavg()[0],
                    device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})")
    models = args.models or table_models()
    unknown = [name for name in models if name not in available_models()]
    if unknown:
        raise UserError(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(available_models())}")

    if settings["records"] < 3 * settings["batch_size"]:
        raise UserError(f"--records {settings['records']}: need at least 3 batches of {settings['batch_size']} records")

    results = {}
    with tempfile.TemporaryDirectory(prefix="ptbxl-benchmark-") as scratch:
        print(f"writing a synthetic PTB-XL of {settings['records']} records ...", flush=True)
        datafolder = write_synthetic_ptbxl(Path(scratch) / "ptbxl", n_records=settings["records"], seed=0,
                                           sampling_frequencies=(100,))
        print("loading: wfdb loop, cold, cached ...", flush=True)
        results["loading"], signals = measure_loading(datafolder, Path(scratch) / "cache", settings["workers"])
    targets = (np.random.default_rng(0).random((len(signals), N_LABELS)) < 0.1).astype(np.float32)
    print("data time per batch ...", flush=True)
    results["batches"] = measure_batches(np.asarray(signals), targets, settings["batch_size"], settings["data_batches"], device)

    results["step_ms"], results["windows_per_s"] = {}, {}
    for name in tqdm(models, desc="training steps and evaluation", unit="model"):
        results["step_ms"][name], model = measure_step(name, settings["batch_size"], settings["warmup"], settings["steps"], device)
        results["windows_per_s"][name] = measure_evaluation(name, model, settings["eval_records"], device)
    results["grid_hours"] = grid_hours(results["step_ms"], results["windows_per_s"], results["batches"]["ours_ms"],
                                       settings["batch_size"])
    return results, build_rows(results, settings), settings


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="everything small: under a minute on 2 CPU cores")
    parser.add_argument("--records", type=int, help=f"synthetic records to load (default {FULL['records']}, quick {QUICK['records']})")
    parser.add_argument("--batch-size", dest="batch_size", type=int, help=f"default {FULL['batch_size']}, quick {QUICK['batch_size']}")
    parser.add_argument("--steps", type=int, help=f"timed training steps per model (default {FULL['steps']}, quick {QUICK['steps']})")
    parser.add_argument("--warmup", type=int, help=f"untimed steps first (default {FULL['warmup']}, quick {QUICK['warmup']})")
    parser.add_argument("--eval-records", dest="eval_records", type=int, help=f"default {FULL['eval_records']}, quick {QUICK['eval_records']}")
    parser.add_argument("--data-batches", dest="data_batches", type=int, help=f"default {FULL['data_batches']}, quick {QUICK['data_batches']}")
    parser.add_argument("--models", type=lambda text: [m for m in text.split(",") if m], help="comma-separated (default: every registered model: the paper's 12, S4 and any of yours)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--workers", type=int, help="loader processes (default: every CPU)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice); 1 is steadier on a busy machine")
    parser.add_argument("--output", help="also write the table to this markdown file (with --gpu-check: where its "
                                         "report goes, default gpu-check.md in the current folder)")
    parser.add_argument("--gpu-check", dest="gpu_check", action="store_true",
                        help="on a CUDA machine: the table per precision, a short training per precision, Ray packing "
                             "and the grid's wall time, in one markdown report (code_used_upload/gpu_check.py); "
                             "--models, --records, --batch-size, --steps, --warmup, --eval-records and --data-batches "
                             "size its table")
    parser.add_argument("--hmw", action="store_true",
                        help="instead of the table: HMW's training step (PreAct-ResNet18 and the HMW head, CIFAR-10 "
                             "shapes, batch 128), its head's call, and the estimated epoch and 250-epoch run, beside "
                             "the cce baseline; --steps, --warmup, --quick and --device size it")
    parser.add_argument("--memory", action="store_true",
                        help="instead of the table: peak resident memory and wall time of a cold and a warm "
                             "--prepare-only (6 tasks) and of one one-epoch CPU cell (fcn_wang, rhythm), at 100 and "
                             "500 Hz, each in a child process, beside the signal cache's size; --records and "
                             "--batch-size size it")
    args = parser.parse_args(argv)
    for key in ("records", "batch_size", "steps", "eval_records", "data_batches", "threads"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            raise UserError(f"--{key.replace('_', '-')} {getattr(args, key)}: must be at least 1")
    return args


def main(argv=None):
    """Run, print the table (and write it with --output); returns the results with its rows and table.
    With --gpu-check, hands over to the GPU check and returns its exit status instead."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.gpu_check:
        from code_used_upload import gpu_check  # here, not at the top: gpu_check imports this module
        return gpu_check.main(args)
    if args.memory:
        return run_memory(args)
    if args.hmw:
        return run_hmw(args)
    random.seed(0)
    np.random.seed(0)
    results, rows, settings = run_benchmark(args)
    table = render_table(rows, settings)
    print(table)
    if args.output:
        Path(args.output).write_text(table)
    return {**results, "rows": rows, "table": table}


if __name__ == "__main__":
    try:
        outcome = main()
    except UserError as error:
        sys.exit(f"error: {error}")
    sys.exit(outcome if isinstance(outcome, int) else 0)  # --gpu-check returns its exit status
