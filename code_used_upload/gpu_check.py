"""`benchmark.py --gpu-check`: one run on a CUDA machine that shows what only a GPU can show.

    python code_used_upload/benchmark.py --gpu-check                          # -> ./gpu-check.md
    python code_used_upload/benchmark.py --gpu-check --output /tmp/gpu-check.md

The project's own machines have no GPU, so this check has to be right on its first run on one. It
measures, one part after another, and writes one markdown report:
1. the benchmark table on CUDA: the training step of every model (the paper's 12, S4; batch 128, 71 labels) under
   each precision side by side, evaluation windows/s, and the data time per batch;
2. a short training on a synthetic PTB-XL at each precision, through the driver, so that a precision
   which hurts the test macro-AUC (or the training loss) shows up;
3. four cells packed on the GPU by Ray (`--gpus-per-cell 0.25`) against the same four one after
   another, both with `--deterministic`: the wall time of each and whether their results are identical;
4. the estimated wall time of the whole grid (12 models x 6 tasks x 3 seeds x 50 epochs) on this GPU;
5. HMW: the epoch time of hmw+cce (PreAct-ResNet18 on CIFAR-10 shapes, batch 128, augmentation on the
   device) under each precision, beside cce, and the estimated time of a 250-epoch run;
6. UniCon: the iteration (views and step), batches and estimated 251-epoch run of uc and hmw+uc (two
   PreAct-ResNet18s, 64 labelled + 64 unlabelled images an iteration), in float32 as UniCon always trains,
   and whether a few iterations give finite losses and leave the co-guessing network unchanged;
under a header naming the GPU, torch, CUDA and the check's wall time.

A part that fails leaves its error in the report and the next part still runs; the report is rewritten
after every part, so even a check stopped half-way leaves what it measured. Every part is a function
of the device and its sizes, and the report is a pure function of the parts' results, so all but the
CUDA numbers are tested on a CPU (tests/test_gpu_check.py).

Expected duration on one H100, about 3 to 4 minutes: part 1 is 12 models x 3 precisions x 25 steps
(5 warm-up + 20 timed, 2 to 50 ms each) plus model building and cuDNN autotuning, about a minute, and
the data time on 21,837 random records, about 20 s; part 2 is 3 precisions x 4 cells of 5 epochs of
about 12 steps on 2,000 records, about a minute with the cells' evaluation; part 3 is two fresh driver
processes of the same 4 cells (one of them starting Ray), about a minute. Each of those two processes
is stopped after 150 s, so a hung Ray cannot take the check past about 7.5 minutes. Parts 5 and 6 time
a few dozen batches of PreAct-ResNet18 per method (and precision), seconds each.
"""
import json
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from code_used_upload import order_results_ptbxl1_upload as driver
from code_used_upload.configs.tasks import TASK_EXPERIMENTS, TASKS
from code_used_upload.data.synthetic import write_synthetic_ptbxl
from code_used_upload.errors import UserError
from code_used_upload.experiments.folders import CELL_FILE, cell_folder
from code_used_upload.measurements import (FULL, N_LABELS, RECORD_SAMPLES, grid_hours, measure_batches, measure_evaluation,
                                           measure_noisy_epoch, measure_step, measure_unicon_epoch, run_driver)
from code_used_upload.models import available_models, model_recipe
from code_used_upload.models.noisy import UNICON
from code_used_upload.models.preact_resnet import preact_resnet18
from code_used_upload.reports.tables import table_models
from code_used_upload.training.device import configure_numerics, default_threads
from code_used_upload.training.settings import PRECISIONS

DEFAULT_OUTPUT = "gpu-check.md"
NO_CUDA = "error: --gpu-check needs a CUDA GPU, and this torch ({}) sees none"
# the benchmark table's sizes: the full benchmark's, with more timed steps (they are cheap on a GPU)
TABLE = {**FULL, "warmup": 5, "steps": 20}
GRID_SEEDS = 3
PACKED_CELLS_PER_GPU = 4
DRIVER_TIMEOUT_S = 150  # one driver process of part 3; about 30 s is expected on an H100


@dataclass
class Cells:
    """The cells of parts 2 and 3: a few models on one task of a synthetic PTB-XL, seed 0.

    Superdiagnostic on synthetic data is learnt in one or two epochs (test macro-AUC near 1), so a
    precision that hurts shows as a clear drop; an LSTM and a CNN, each with and without LDM, cover
    the code paths that differ under bf16 (the LSTMs opt out of autocast, the LDM adds its loss)."""
    models: tuple = ("fcn_wang", "fcn_wang_ldm", "lstm", "lstm_ldm")
    task: str = "superdiagnostic"
    records: int = 2000
    epochs: int = 5
    batch_size: int = 128

    def write_data(self, folder):
        """A fresh synthetic PTB-XL at 100 Hz under `folder`; returns its data folder."""
        return write_synthetic_ptbxl(Path(folder) / "ptbxl", n_records=self.records, seed=0, sampling_frequencies=(100,))

    def flags(self, datafolder, outputfolder, device):
        """The driver's flags for these cells."""
        return ["--datafolder", str(datafolder), "--outputfolder", str(outputfolder), "--models", ",".join(self.models),
                "--tasks", self.task, "--seeds", "0", "--epochs", str(self.epochs), "--batch_size", str(self.batch_size),
                "--device", str(device)]

    def cell_folder(self, outputfolder, model):
        """Where the driver wrote `model`'s cell."""
        return cell_folder(Path(outputfolder) / TASK_EXPERIMENTS[self.task], model, 0)

    def cell_record(self, outputfolder, model):
        """The cell.json the driver wrote for `model`."""
        return json.loads((self.cell_folder(outputfolder, model) / CELL_FILE).read_text())

    def describe(self):
        return (f"{', '.join(self.models)} on {self.task}, {self.records} synthetic records, {self.epochs} epochs, "
                f"batch {self.batch_size}, seed 0")


# ---------------------------------------------------------------- the parts

def part_step_times(device, models, batch_size, warmup, steps, eval_records, precisions=PRECISIONS):
    """Part 1: milliseconds per training step of each model under each precision, and evaluation
    windows/s under tf32 (evaluation never autocasts, so one precision says it all).

    Each (model, precision) is measured on its own: one that fails (out of memory, say) is recorded
    with its error and the others are still measured."""
    step_ms, windows_per_s, errors = {name: {} for name in models}, {}, {}
    threads = torch.get_num_threads()  # the user's --threads, if any, stays
    for name in tqdm(models, desc="part 1: training step per precision", unit="model"):
        for precision in precisions:
            model = None
            try:
                # the TF32 switches and cuDNN autotuning, as a cell without --deterministic sets them
                configure_numerics(precision, threads=threads)
                step_ms[name][precision], model = measure_step(name, batch_size, warmup, steps, device, precision)
                if precision == "tf32":
                    windows_per_s[name] = measure_evaluation(name, model, eval_records, device)
            except Exception:  # one model must not cost the others their numbers
                errors[f"{name} {precision}"] = traceback.format_exc().rstrip()
            finally:
                model = None  # its GPU memory back before the next one
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    return {"batch_size": batch_size, "labels": N_LABELS, "warmup": warmup, "steps": steps, "eval_records": eval_records,
            "precisions": list(precisions), "step_ms": step_ms, "windows_per_s": windows_per_s, "errors": errors}


def part_data_time(device, records, batch_size, n_batches):
    """Part 1, data: milliseconds per training batch, resident-tensor crops vs a per-sample DataLoader
    (`measurements.measure_batches`), on random 10 s records: the time does not depend on the values."""
    rng = np.random.default_rng(0)
    signals = rng.standard_normal((records, RECORD_SAMPLES, 12), dtype=np.float32)
    targets = (rng.random((records, N_LABELS)) < 0.1).astype(np.float32)
    return {"records": records, "batch_size": batch_size, "batches": n_batches,
            **measure_batches(signals, targets, batch_size, n_batches, device)}


def part_precision_training(device, workdir, cells=Cells(), precisions=PRECISIONS):
    """Part 2: the same cells trained through the driver (in this process) once per precision; the
    test macro-AUC and last training loss of each (model, precision), and each precision's wall time.

    A precision whose run fails, or a cell that fails, is recorded with its error; the others go on."""
    datafolder = cells.write_data(workdir)
    auc, loss = {name: {} for name in cells.models}, {name: {} for name in cells.models}
    seconds, errors = {}, {}
    for precision in precisions:
        print(f"part 2: training at {precision}: {cells.describe()}", flush=True)
        outputfolder = Path(workdir) / f"precision-{precision}"
        started = time.perf_counter()
        try:
            failed = driver.run(driver.parse_args([*cells.flags(datafolder, outputfolder, device), "--precision", precision]))
        except Exception:
            errors[precision] = traceback.format_exc().rstrip()
            continue
        seconds[precision] = time.perf_counter() - started
        errors.update({f"{precision} {name}": error for name, error in failed})
        failed_models = {name.split("/")[1] for name, _ in failed}
        for model in (model for model in cells.models if model not in failed_models):
            record = cells.cell_record(outputfolder, model)
            auc[model][precision] = record["test_macro_auc"]["point"]
            loss[model][precision] = record["train_loss"][-1]
    return {"cells": cells.describe(), "models": list(cells.models), "precisions": list(precisions),
            "auc": auc, "train_loss": loss, "seconds": seconds, "errors": errors}


def part_packing(device, workdir, cells=Cells(), gpus_per_cell=1 / PACKED_CELLS_PER_GPU, cpus_per_cell=None,
                 timeout_s=DRIVER_TIMEOUT_S):
    """Part 3: the same cells one after another (local executor) and packed by Ray, each as a fresh
    driver process: both sides pay the same start-up, start with the same cuBLAS workspace (fixed by
    a process's first cuBLAS call, so it must not be inherited from part 1), and a hung Ray can be
    stopped. Both use --deterministic and the same --cpus-per-cell, so their results must be identical.

    cpus_per_cell: CPU threads of each cell, on both sides (default: this machine's cores shared
    among the cells)."""
    try:
        import ray  # noqa: F401  (only asked whether it is there: the driver imports it itself)
    except ImportError:
        raise RuntimeError("Ray is not installed: pip install -r requirements-ray.txt") from None
    cpus_per_cell = cpus_per_cell or max(1, default_threads() // len(cells.models))
    datafolder = cells.write_data(workdir)
    common = ["--precision", "tf32", "--deterministic", "--cpus-per-cell", str(cpus_per_cell)]
    packed = ["--executor", "ray", "--gpus-per-cell", f"{gpus_per_cell:g}"]
    folders = {side: Path(workdir) / f"packing-{side}" for side in ("local", "ray")}
    seconds = {}
    for side, extra in (("local", ["--executor", "local"]), ("ray", packed)):
        print(f"part 3: {len(cells.models)} cells, {side} executor (a fresh driver process) ...", flush=True)
        flags = [*cells.flags(datafolder, folders[side], device), *common, *extra]
        seconds[side], _ = run_driver(flags, Path(workdir) / f"packing-{side}.log", timeout_s)
    def test_predictions(side, model):
        return np.load(cells.cell_folder(folders[side], model) / "y_test_pred.npy")

    same_predictions = sum(np.array_equal(test_predictions("local", model), test_predictions("ray", model))
                           for model in cells.models)
    same_table = (folders["local"] / "results.csv").read_bytes() == (folders["ray"] / "results.csv").read_bytes()
    return {"cells": cells.describe(), "flags": " ".join(common), "ray_flags": " ".join(packed),
            "local_s": seconds["local"], "ray_s": seconds["ray"], "results_identical": same_table,
            "predictions_identical": int(same_predictions), "cells_compared": len(cells.models)}


def part_grid_estimate(steps, data, seeds=GRID_SEEDS):
    """Part 4: hours for every measured model x 6 tasks x `seeds` x each recipe's epochs, one cell after
    another, from part 1's tf32 step times, evaluation rates and data time (`measurements.grid_hours`)."""
    if "error" in steps or "error" in data:
        raise RuntimeError("needs part 1's step times and data time, and part 1 failed")
    missing = [name for name in steps["step_ms"] if "tf32" not in steps["step_ms"][name] or name not in steps["windows_per_s"]]
    if missing:
        raise RuntimeError(f"no tf32 step time or evaluation rate for {', '.join(missing)} (see part 1)")
    step_ms = {name: times["tf32"] for name, times in steps["step_ms"].items()}
    per_seed = grid_hours(step_ms, steps["windows_per_s"], data["ours_ms"], steps["batch_size"])
    epochs = sorted({model_recipe(name).epochs for name in step_ms})
    return {"models": len(step_ms), "tasks": len(TASKS), "seeds": seeds, "epochs": epochs,
            "batch_size": steps["batch_size"], "hours_per_seed": per_seed, "hours": per_seed * seeds}


def part_hmw(device, precisions=PRECISIONS, steps=20, warmup=5, batch_size=128, test_images=1024):
    """Part 5: HMW's training step, test-set evaluation and estimated epoch and 250-epoch run, per precision
    (measurements.measure_noisy_epoch), hmw+cce beside its cce baseline."""
    results, errors = {}, {}
    for precision in precisions:
        configure_numerics(precision, threads=default_threads())
        for method in ("cce", "hmw+cce"):
            try:
                results.setdefault(method, {})[precision] = measure_noisy_epoch(
                    method, device, precision, batch_size, warmup, steps, test_images=test_images)
            except Exception:
                errors[f"{method} at {precision}"] = traceback.format_exc().rstrip()
    configure_numerics("tf32", threads=default_threads())
    return {"results": results, "errors": errors, "steps": steps}


def part_unicon(device, steps=20, warmup=5, eval_images=1000, backbone=preact_resnet18):
    """Part 6: UniCon's iteration (views and step, timed apart), its warm-up and evaluation batches and the
    estimated 251-epoch run of uc and hmw+uc (measurements.measure_unicon_epoch), with its checks that the
    iterations' losses are finite and the co-guessing network unchanged; `backbone` narrower for a test.

    One precision, tf32, the default: UniCon trains in float32 under every --precision (training/unicon_loop.py
    never enters bf16 autocast), so a bf16 column would time tf32's kernels again under another name, and
    --precision fp32 only turns TF32 off, which part 5's fp32 column already prices. A method that fails is
    recorded with its error; the other is still measured."""
    configure_numerics("tf32", threads=torch.get_num_threads())  # the user's --threads, if any, stays
    results, errors = {}, {}
    for method in UNICON:
        try:
            results[method] = measure_unicon_epoch(method, device, warmup, steps, eval_images=eval_images,
                                                   backbone=backbone)
        except Exception:
            errors[method] = traceback.format_exc().rstrip()
    return {"results": results, "errors": errors, "steps": steps, "precision": "tf32"}


# ---------------------------------------------------------------- running the parts

def run_part(title, measure):
    """`measure()`'s result, or {"error": its traceback}: a failing part must not stop the check."""
    print(f"== {title}", flush=True)
    started = time.perf_counter()
    try:
        result = measure()
    except Exception:
        result = {"error": traceback.format_exc().rstrip()}
    outcome = f"FAILED ({result['error'].splitlines()[-1]}), going on" if "error" in result else "done"
    print(f"== {title}: {outcome} after {time.perf_counter() - started:.0f} s", flush=True)
    return result


def describe_machine(device):
    """The report's header: what the numbers depend on besides the code."""
    return {"gpu": torch.cuda.get_device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "cpus": default_threads(), "python": platform.python_version(),
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def table_sizes(args):
    """Part 1's sizes: the benchmark's flags where given, TABLE's otherwise."""
    return {key: getattr(args, key) if getattr(args, key, None) is not None else value for key, value in TABLE.items()}


def main(args):
    """The whole check (args: benchmark.py's parsed flags); returns the exit status: 0 when every part
    succeeded, 1 when a part failed (the report says which), 2 without a CUDA GPU."""
    if not torch.cuda.is_available():
        print(NO_CUDA.format(torch.__version__), file=sys.stderr)
        return 2
    models = args.models or table_models()  # the paper's 12, then S4 (and any registered backbone)
    unknown = [name for name in models if name not in available_models()]
    if unknown:
        raise UserError(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(available_models())}")
    output = Path(args.output or DEFAULT_OUTPUT)
    device, sizes, parts, started = torch.device("cuda"), table_sizes(args), {}, time.perf_counter()
    try:
        header = describe_machine(device)  # the first CUDA call: a GPU that torch cannot use fails here
    except RuntimeError as error:
        print(f"error: --gpu-check: torch sees a CUDA GPU but cannot use it: {error}".splitlines()[0], file=sys.stderr)
        return 2

    def write_report(complete):
        report = render_report({**header, "wall_s": time.perf_counter() - started, "complete": complete}, parts)
        output.write_text(report)
        return report

    try:
        write_report(complete=False)  # an output that cannot be written fails now, not after minutes
    except OSError as error:
        raise UserError(f"--output {output}: cannot write it ({error})") from None
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        plan = [
            ("steps", "part 1: training step per precision", lambda: part_step_times(
                device, models, sizes["batch_size"], sizes["warmup"], sizes["steps"], sizes["eval_records"])),
            ("data", "part 1: data time per batch", lambda: part_data_time(
                device, sizes["records"], sizes["batch_size"], sizes["data_batches"])),
            ("training", "part 2: short training per precision", lambda: part_precision_training(
                device, Path(scratch) / "training")),
            ("packing", "part 3: Ray packing vs one after another", lambda: part_packing(
                device, Path(scratch) / "packing")),
            ("grid", "part 4: the grid's wall time", lambda: part_grid_estimate(parts["steps"], parts["data"])),
            ("hmw", "part 5: HMW's epoch per precision", lambda: part_hmw(device)),
            ("unicon", "part 6: UniCon's iteration and run", lambda: part_unicon(device)),
        ]
        for key, title, measure in plan:
            parts[key] = run_part(title, measure)
            report = write_report(complete=len(parts) == len(plan))
    print(report)
    print(f"wrote {output}")
    return 1 if any("error" in result for result in parts.values()) else 0


# ---------------------------------------------------------------- the report

def render_report(header, parts):
    """The markdown report from the header and the parts' results (a part missing: not run yet)."""
    minutes = f"{header['wall_s']:.0f} s ({header['wall_s'] / 60:.1f} min)"
    took = f"the whole check took {minutes}" if header["complete"] else f"still running: {minutes} so far"
    lines = [f"# GPU check: {header['gpu']}", "",
             f"torch {header['torch']}, CUDA {header['cuda']}, cuDNN {header['cudnn']}, Python {header['python']}, "
             f"{header['cpus']} CPU cores; started {header['started']}; {took}.", "",
             "Written by `python code_used_upload/benchmark.py --gpu-check` (code_used_upload/gpu_check.py).", ""]
    for key, title, render in SECTIONS:
        lines += [f"## {title}", ""]
        if key not in parts:
            lines += ["Not run: the check stopped before this part.", ""]
        elif "error" in parts[key]:
            lines += ["**This part failed** (the other parts were still measured):", "", "```", parts[key]["error"], "```", ""]
        else:
            lines += render(parts[key]) + [""]
    return "\n".join(lines)


def ratio(numerator, denominator):
    return f"{numerator / denominator:.2f}x" if numerator is not None and denominator else "-"


def number(value, template):
    return template.format(value) if value is not None else "failed"


def errors_block(errors):
    """Errors of single measurements inside a part that otherwise ran."""
    if not errors:
        return []
    lines = ["", "Failed measurements:", ""]
    for what, error in errors.items():
        lines += [f"- {what}:", "", "  ```", *[f"  {line}" for line in error.splitlines()], "  ```"]
    return lines


def render_steps(result):
    fp32, tf32, bf16 = "fp32", "tf32", "bf16"
    lines = [f"Mean of {result['steps']} timed training steps after {result['warmup']} warm-up steps (forward, loss, "
             f"backward, clipping, AdamW, schedule), batch {result['batch_size']}, {result['labels']} labels, random "
             f"2.5 s crops; cuDNN autotuning on, as in a cell without --deterministic; a ratio under 1 means faster "
             f"than tf32. Evaluation: {result['eval_records']} records of 10 s, the recipe's windows, under tf32.", "",
             "| model | fp32 ms | tf32 ms | bf16 ms | bf16/tf32 | fp32/tf32 | evaluation windows/s |",
             "|---|---|---|---|---|---|---|"]
    for name, times in result["step_ms"].items():
        get = times.get
        rate = result["windows_per_s"].get(name)
        lines.append(f"| {name} | {number(get(fp32), '{:.2f}')} | {number(get(tf32), '{:.2f}')} | "
                     f"{number(get(bf16), '{:.2f}')} | {ratio(get(bf16), get(tf32))} | {ratio(get(fp32), get(tf32))} | "
                     f"{number(rate, '{:,.0f}')} |")
    return lines + errors_block(result["errors"])


def render_data(result):
    return [f"Random 2.5 s crops + labels of one batch of {result['batch_size']}, on the GPU; mean of "
            f"{result['batches']} batches from {result['records']} records of 10 s.", "",
            "| resident-tensor crops (ours) | per-sample Dataset + DataLoader | ratio |", "|---|---|---|",
            f"| {result['ours_ms']:.3f} ms | {result['loader_ms']:.2f} ms | "
            f"{result['loader_ms'] / result['ours_ms']:.1f}x faster |"]


def render_training(result):
    precisions = result["precisions"]
    lines = [f"Through the driver: {result['cells']}; the same cells once per `--precision`. A precision that hurts "
             "shows as a lower test macro-AUC or a higher last-epoch training loss than tf32's.", "",
             "| model | " + " | ".join(f"AUC {p}" for p in precisions) + " | "
             + " | ".join(f"train loss {p}" for p in precisions) + " |",
             "|---|" + "---|" * (2 * len(precisions))]
    for model in result["models"]:
        aucs = [number(result["auc"][model].get(p), "{:.4f}") for p in precisions]
        losses = [number(result["train_loss"][model].get(p), "{:.4f}") for p in precisions]
        lines.append(f"| {model} | " + " | ".join(aucs + losses) + " |")
    lines += ["", "Wall time per precision (data preparation included): "
              + ", ".join(f"{p} {number(result['seconds'].get(p), '{:.0f} s')}" for p in precisions) + "."]
    return lines + errors_block(result["errors"])


def render_packing(result):
    yes = {True: "yes", False: "**NO**"}
    return [f"The same cells ({result['cells']}) run twice, each run a fresh driver process: one after another "
            f"(`--executor local`) and packed on the GPU by Ray (`{result['ray_flags']}`); both with `{result['flags']}`.",
            "",
            "| run | wall time |", "|---|---|",
            f"| one after another (local executor) | {result['local_s']:.1f} s |",
            f"| packed by Ray | {result['ray_s']:.1f} s |", "",
            f"Packed / one after another: {ratio(result['ray_s'], result['local_s'])} of the wall time (under 1: packing "
            f"is faster; Ray's start-up and its workers' included, so small cells favour the local executor). "
            f"results.csv identical: {yes[result['results_identical']]}; test predictions bit-identical: "
            f"{result['predictions_identical']} of {result['cells_compared']} cells."]


def render_grid(result):
    epochs = "/".join(map(str, result["epochs"]))
    return [f"{result['models']} models x {result['tasks']} tasks x {result['seeds']} seeds x {epochs} epochs at batch "
            f"{result['batch_size']}, one cell after another on this GPU, from part 1's tf32 step times, evaluation "
            "rates and data time (`measurements.grid_hours`, training at 71 labels for every task; start-up and "
            "bootstrap left out):", "",
            f"**{result['hours']:.1f} h** ({result['hours_per_seed']:.2f} h per seed)."]


def render_hmw(result):
    lines = [f"PreAct-ResNet18 on CIFAR-10 shapes (random uint8 images resident on the GPU, crop and flip there), "
             f"batch 128, mean of {result['steps']} steps; epoch = 391 steps + the 10,000 test images; run = 250 epochs "
             "(the authors' recipe). The authors' script is estimated at 1.5-3 h a run.", "",
             "| method | precision | training step | HMW head call | epoch | 250-epoch run |", "|---|---|---|---|---|---|"]
    for method, by_precision in result["results"].items():
        for precision, r in by_precision.items():
            head = "-" if r["head_ms"] != r["head_ms"] else f"{r['head_ms']:.2f} ms"
            lines.append(f"| {method} | {precision} | {r['step_ms']:.1f} ms | {head} | {r['epoch_s']:.1f} s | "
                         f"{r['run_s'] / 60:.1f} min |")
    return lines + errors_block(result["errors"])


def render_unicon(result):
    yes = {True: "yes", False: "**NO**"}
    lines = [f"Two PreAct-ResNet18 UniConNets on CIFAR-10 shapes (random uint8 images resident on the GPU), one "
             "iteration of net against other on 64 labelled + 64 unlabelled images (selection rate 0.5): the views "
             "(weak, weak, strong, strong of each image, made on the GPU by unicon_view) and the step "
             f"(unicon_train_step: 7 forward passes of net, 2 of other, backward, SGD), timed apart, mean of "
             f"{result['steps']}. One column, {result['precision']}, the default: UniCon trains in float32 under every "
             "--precision (no bf16 autocast), so a bf16 column would repeat these kernels; fp32 only turns TF32 off "
             "(part 5 shows what that costs a PreAct-ResNet18). Run = 10 warm-up epochs (2 networks x "
             "391 batches of 128) + 241 selection epochs (2 JSD passes of 2 networks over 50,000 images in batches of "
             "100, 2 networks x 390 iterations), each with the ensemble's test (measurements.measure_unicon_epoch). "
             "Checks: every timed and warm-up iteration's loss finite; the co-guessing network's parameters and "
             "buffers bit for bit unchanged.", "",
             "| method | views | step | iteration | warm-up batch | evaluation batch | selection epoch | 251-epoch run "
             "| losses finite | other unchanged |", "|---|---|---|---|---|---|---|---|---|---|"]
    results = result["results"]
    for method, r in results.items():
        lines.append(f"| {method} | {r['views_ms']:.2f} ms | {r['step_ms']:.1f} ms | {r['iteration_ms']:.1f} ms | "
                     f"{r['warmup_ms']:.1f} ms | {r['eval_ms']:.2f} ms | {r['selection_epoch_s']:.1f} s | "
                     f"{r['run_s'] / 3600:.2f} h | {yes[r['losses_finite']]} | {yes[r['other_unchanged']]} |")
    if len(results) == len(UNICON):
        lines += ["", "hmw+uc iteration / uc iteration: "
                  f"{ratio(results['hmw+uc']['iteration_ms'], results['uc']['iteration_ms'])}."]
    return lines + errors_block(result["errors"])


SECTIONS = [
    ("steps", "1. Training step per precision, and evaluation", render_steps),
    ("data", "1b. Data time per batch", render_data),
    ("training", "2. Short training per precision (test macro-AUC)", render_training),
    ("packing", "3. Cells packed on one GPU by Ray vs one after another", render_packing),
    ("grid", "4. Estimated wall time of the whole grid", render_grid),
    ("hmw", "5. HMW: epoch and run time per precision", render_hmw),
    ("unicon", "6. UniCon: iteration and run time, and its checks", render_unicon),
]
