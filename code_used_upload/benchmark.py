"""How fast is this toolkit, and how long will the paper's grid take here? One table, measured now.

    python code_used_upload/benchmark.py                 # 21,837 synthetic records, every registered model (the 12, S4), batch 128
    python code_used_upload/benchmark.py --quick         # small, under a minute on 2 CPU cores
    python code_used_upload/benchmark.py --models fcn_wang,fcn_wang_ldm --output benchmark.md
    python code_used_upload/benchmark.py --gpu-check     # a CUDA machine: -> gpu-check.md (see gpu_check.py)
    python code_used_upload/benchmark.py --memory        # peak memory of prepare and of one cell, 100 and 500 Hz
    python code_used_upload/benchmark.py --image-memory  # peak memory of a run on 2,001 photographs against 30
    python code_used_upload/benchmark.py --hmw           # HMW on CIFAR-shaped data: step, epoch, a 250-epoch run;
                                                         # UniCon's iteration and 251-epoch run, uc and hmw+uc

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
from tqdm.auto import tqdm

from code_used_upload import gpu_check
from code_used_upload.data.ptbxl import load_database, load_signals
from code_used_upload.data.synthetic import write_synthetic_ptbxl
from code_used_upload.errors import UserError
from code_used_upload.measurements import (FULL, N_LABELS, QUICK, TASK_RECORDS, grid_hours, measure_batches,
                                           measure_evaluation, measure_image_memory, measure_noisy_epoch, measure_step,
                                           measure_unicon_epoch, run_driver, windows_per_record)
from code_used_upload.models import available_models, split_model_name
from code_used_upload.models.noisy import UNICON
from code_used_upload.reports.tables import table_models
from code_used_upload.training.device import configure_numerics, resolve_device


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


# ---------------------------------------------------------------- noisy labels (HMW)

def run_hmw(args):
    """--hmw: on this device, the noisy-label step, epoch and run estimate of cce and hmw+cce, and UniCon's
    iteration, batches and run estimate of uc and hmw+uc (`measurements.measure_unicon_epoch`, whose docstring
    gives the estimate's formula), as two tables; UniCon's iteration also as a ratio to the hmw+cce step."""
    device = resolve_device(args.device)
    configure_numerics("tf32", threads=torch.get_num_threads())
    steps, warmup = (args.steps or 3, args.warmup or 1) if args.quick else (args.steps or 10, args.warmup or 3)
    results = {method: measure_noisy_epoch(method, device, steps=steps, warmup=warmup) for method in ("cce", "hmw+cce")}
    unicon = {method: measure_unicon_epoch(method, device, warmup=warmup, steps=steps) for method in UNICON}
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
    lines += ["", f"hmw+cce step / cce step: {ratio:.2f}x (measured one after the other in this run)", ""]
    lines += unicon_lines(unicon, results["hmw+cce"]["step_ms"], steps)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        Path(args.output).write_text(table)
    return {"results": results, "unicon": unicon, "table": table}


def unicon_lines(unicon, hmw_step_ms, steps):
    """--hmw's UniCon table: per method its iteration (views and step apart), batches and estimates, the
    iteration beside the hmw+cce training step `hmw_step_ms` measured in the same run."""
    sizes = unicon["uc"]
    lines = [f"UniCon, the same shapes: two PreAct-ResNet18 UniConNets, one iteration of net against other on "
             f"{sizes['batch_x']} labelled + {sizes['batch_u']} unlabelled images (selection rate 0.5), mean of "
             f"{steps}: the views (weak, weak, strong, strong of each image, made on the device by unicon_view) and "
             "the step (unicon_train_step: 7 forward passes of net, 2 of other, backward, SGD), timed apart. "
             f"{sizes['epochs']}-epoch run = {sizes['warm_up']} warm-up epochs (2 networks x 391 batches of 128) + "
             f"{sizes['epochs'] - sizes['warm_up']} selection epochs (2 JSD passes of 2 networks over 50,000 images "
             f"in batches of 100, and 2 networks x {sizes['iterations']} iterations), each epoch with the "
             "ensemble's test (measurements.measure_unicon_epoch).", "",
             "| method | views | step | iteration (views + step) | iteration / hmw+cce step | warm-up batch of 128 | "
             f"evaluation batch of 100 | warm-up epoch (estimated) | selection epoch (estimated) | "
             f"{sizes['epochs']}-epoch run (estimated) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for method, r in unicon.items():
        lines.append(f"| {method} | {r['views_ms']:.1f} ms | {r['step_ms']:.1f} ms | {r['iteration_ms']:.1f} ms | "
                     f"{r['iteration_ms'] / hmw_step_ms:.2f}x | {r['warmup_ms']:.1f} ms | {r['eval_ms']:.1f} ms | "
                     f"{r['warmup_epoch_s']:.0f} s | {r['selection_epoch_s']:.0f} s | {r['run_s'] / 3600:.2f} h |")
    ratio = unicon["hmw+uc"]["iteration_ms"] / unicon["uc"]["iteration_ms"]
    return lines + ["", f"hmw+uc iteration / uc iteration: {ratio:.2f}x (measured one after the other in this run)"]


# ---------------------------------------------------------------- memory

MEMORY_RATES = (100, 500)
MEMORY_RUNS = {  # name: (driver flags, what the row says, what the run holds)
    "cold_prepare": (["--prepare-only"], "cold --prepare-only, 6 tasks",
                     "reads PTB-XL, writes the signal cache and its per-record moments"),
    "warm_prepare": (["--prepare-only"], "warm --prepare-only, 6 tasks",
                     "labels, folds and scalers from the cache's memory map and moments"),
    "cell": (["--models", "fcn_wang", "--tasks", "rhythm", "--seeds", "0", "--epochs", "1", "--device", "cpu"],
             "one CPU cell: fcn_wang, rhythm, 1 epoch", "the raw training signals on the device, and the memory map"),
}


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


def run_image_memory(args):
    """The --image-memory table: a one-epoch run on your own images (train_hmw.py --dataset imagefolder) on 30
    and on 2,001 photographs of 160 px, each in a child process, the same network (the MLP, whose weights do
    not depend on the count) and batch; what holding the images costs, against their pixels."""
    with tempfile.TemporaryDirectory(prefix="image-memory-") as scratch:
        results = measure_image_memory(scratch)
    (small, (_, small_peak, _)), (large, (seconds, large_peak, pixels)) = sorted(results.items())
    rows = [(f"a run on {images} photographs of 160 px (mlp, batch 16, 1 epoch)",
             f"{peak / 1e9:.2f} GB peak RSS in {format_seconds(seconds)}", f"their pixels {pixel_bytes / 1e9:.3f} GB", "",
             "a child process's own peak (VmHWM)") for images, (seconds, peak, pixel_bytes) in sorted(results.items())]
    rows.append((f"{large} against {small} photographs", f"{(large_peak - small_peak) / 1e9:.3f} GB more",
                 f"the {large} images' pixels {pixels / 1e9:.3f} GB", f"{(large_peak - small_peak) / pixels:.2f}x the pixels",
                 "decoded into one uint8 array, no copy for the split, the grid or CPU training"))
    table = render_table(rows, {"device_name": f"CPU ({platform.processor() or platform.machine()})",
                                "load": os.getloadavg()[0]})
    print(table)
    if args.output:
        Path(args.output).write_text(table)
    return {"image_memory": results, "rows": rows, "table": table}


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
                             "the cce baseline; UniCon's iteration (64 labelled + 64 unlabelled images, views and "
                             "step), its batches and the estimated 251-epoch run, uc and hmw+uc; --steps, --warmup, "
                             "--quick and --device size it")
    parser.add_argument("--memory", action="store_true",
                        help="instead of the table: peak resident memory and wall time of a cold and a warm "
                             "--prepare-only (6 tasks) and of one one-epoch CPU cell (fcn_wang, rhythm), at 100 and "
                             "500 Hz, each in a child process, beside the signal cache's size; --records and "
                             "--batch-size size it")
    parser.add_argument("--image-memory", dest="image_memory", action="store_true",
                        help="instead of the table: peak resident memory of a one-epoch run on your own images, 2,001 "
                             "photographs of 160 px against 30, each in a child process (about a minute)")
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
        return gpu_check.main(args)
    if args.memory:
        return run_memory(args)
    if args.image_memory:
        return run_image_memory(args)
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
