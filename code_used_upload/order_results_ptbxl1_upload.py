"""Train every baseline and its +LDM variant on the six PTB-XL tasks and write the paper's table.

    python code_used_upload/order_results_ptbxl1_upload.py                  # the whole grid
    python code_used_upload/order_results_ptbxl1_upload.py --models fcn_wang,fcn_wang_ldm --seeds 0 --epochs 5
    python code_used_upload/order_results_ptbxl1_upload.py --demo           # synthetic data, a few minutes on CPU

The constants below choose the experiment; each one is overridden by the flag of the same name in
lower case (`--sampling_frequency 500` or `--sampling-frequency 500`). Rerunning skips complete cells.
"""
import argparse
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the package importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from code_used_upload.configs import paper, tasks
from code_used_upload.errors import UserError

DATAFOLDER = "data/ptbxl/"
OUTPUTFOLDER = "outputs/"
MODELS = paper.PAPER_MODELS        # the 12: six backbones, each with and without LDM (also: s4, s4_ldm, yours)
TASKS = tasks.TASKS                # all, diagnostic, subdiagnostic, superdiagnostic, form, rhythm
SEEDS = [0, 1, 2]
EPOCHS: int = None                 # None: each model's recipe (50 for the paper's twelve); a number for all
SAMPLING_FREQUENCY = 100           # 100 or 500 Hz
BATCH_SIZE = 128
DEVICE = "auto"                    # auto, cpu or cuda
COMPILE = False                    # torch.compile the models (CUDA runs)
PRECISION = "tf32"                 # fp32 (strict), tf32 (float32 with TF32 on CUDA, as the reference) or bf16
DETERMINISTIC = False              # CUDA: deterministic algorithms, no cuDNN autotuning (slower)
VAL_EVERY = 0                      # validation macro-AUC every N epochs in training.png; 0 = off
EXECUTOR = "local"                 # local (one cell after another) or ray
RAY_ADDRESS: str = None            # a running Ray cluster ("auto"), or None to start a local one
GPUS_PER_CELL = 0.0                # Ray: GPUs per cell; fractions pack small cells on one GPU
CPUS_PER_CELL: int = None          # CPU threads of a cell, both executors (Ray reserves them); None: every core
CONSTANTS = [name for name in globals() if name.isupper()]  # each has its flag

# --demo: every model on the project's synthetic PTB-XL (in a temporary folder), on the task it learns
# fastest, long enough that every model is clearly above chance, in about 5 minutes on 2 CPU cores
DEMO = dict(OUTPUTFOLDER="outputs/demo/", TASKS=["superdiagnostic"], SEEDS=[0], EPOCHS=5, BATCH_SIZE=32, DEVICE="cpu")
DEMO_RECORDS = 500


def comma_list(item_type):
    def parse(text):
        return [item_type(item) for item in text.split(",") if item.strip()]
    return parse


def parse_args(argv=None):
    """One flag per constant, its default the constant (or the demo's value under --demo)."""
    argv = sys.argv[1:] if argv is None else argv
    defaults = {name: globals()[name] for name in CONSTANTS}
    if "--demo" in argv:
        defaults.update(DEMO)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in CONSTANTS:
        value = defaults[name]
        flags = list(dict.fromkeys([f"--{name.lower()}", f"--{name.lower().replace('_', '-')}"]))
        if isinstance(value, bool):
            parser.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=value,
                                help=f"(default: {value})")
        elif isinstance(value, list):
            parser.add_argument(*flags, dest=name, type=comma_list(type(value[0])), default=value,
                                help=f"comma-separated (default: {','.join(map(str, value))})")
        else:
            kind = globals().get("__annotations__", {}).get(name, type(value))
            parser.add_argument(*flags, dest=name, type=kind, default=value, help=f"(default: {value})")
    parser.add_argument("--prepare-only", "--prepare_only", action="store_true",
                        help="write each task's labels, classes and scaler under OUTPUTFOLDER; train nothing")
    parser.add_argument("--report-only", "--report_only", action="store_true",
                        help="rebuild every summary file from the cell folders under OUTPUTFOLDER; no data, no training")
    parser.add_argument("--demo", action="store_true",
                        help=f"every model on a synthetic PTB-XL ({DEMO_RECORDS} records, {DEMO['EPOCHS']} epochs, "
                             f"{', '.join(DEMO['TASKS'])}): the whole pipeline in about 5 minutes on a CPU")
    return parser.parse_args(argv)


def check_names(names, valid, what):
    if not names:
        raise UserError(f"no {what} given; valid {what}s: {', '.join(valid)}")
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise UserError(f"unknown {what} {', '.join(unknown)}; valid {what}s: {', '.join(valid)}")


def run(args):
    """Check the input, prepare the tasks, run the grid, write the table; returns the failed cells."""
    # imported here, not at the top, so that --help answers without loading torch
    from code_used_upload.data.task import PTBXL
    from code_used_upload.experiments.grid import Grid, run_grid_locally
    from code_used_upload.experiments.prepare import prepare_experiment
    from code_used_upload.models import available_models
    from code_used_upload.training.device import PRECISIONS, default_threads, resolve_device
    from code_used_upload.training.settings import RunSettings

    check_names(args.MODELS, available_models(), "model")
    check_names(args.TASKS, tasks.TASKS, "task")
    if args.SAMPLING_FREQUENCY not in (100, 500):
        raise UserError(f"--sampling_frequency {args.SAMPLING_FREQUENCY}: PTB-XL has 100 and 500 Hz records")
    for name in ("EPOCHS", "BATCH_SIZE"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.lower()} {getattr(args, name)}: must be at least 1")
    if args.EXECUTOR not in ("local", "ray"):
        raise UserError(f"--executor {args.EXECUTOR}: use local or ray")
    if args.PRECISION not in PRECISIONS:
        raise UserError(f"--precision {args.PRECISION}: use one of {', '.join(PRECISIONS)}")
    if args.CPUS_PER_CELL is not None and args.CPUS_PER_CELL < 1:
        raise UserError(f"--cpus-per-cell {args.CPUS_PER_CELL}: must be at least 1")
    if args.report_only:
        return report_only(args)
    resolve_device(args.DEVICE)
    with tempfile.TemporaryDirectory(prefix="synthetic-ptbxl-") as scratch:
        if args.demo:
            from code_used_upload.data.synthetic import write_synthetic_ptbxl
            args.DATAFOLDER = str(write_synthetic_ptbxl(Path(scratch) / "ptbxl", n_records=DEMO_RECORDS,
                                                        seed=0, sampling_frequencies=(args.SAMPLING_FREQUENCY,)))
        dataset = PTBXL(args.DATAFOLDER, args.OUTPUTFOLDER, args.SAMPLING_FREQUENCY)
        if args.prepare_only:
            for task in args.TASKS:
                prepare_experiment(dataset, args.OUTPUTFOLDER, task)
            print(f"prepared {', '.join(args.TASKS)} under {args.OUTPUTFOLDER}")
            return []
        grid = Grid(Path(args.OUTPUTFOLDER), args.TASKS, args.MODELS, args.SEEDS)
        settings = RunSettings(epochs=args.EPOCHS, batch_size=args.BATCH_SIZE, sampling_frequency=args.SAMPLING_FREQUENCY,
                               device=args.DEVICE, compile=args.COMPILE, val_every=args.VAL_EVERY,
                               precision=args.PRECISION, deterministic=args.DETERMINISTIC,
                               threads=args.CPUS_PER_CELL or default_threads())
        if args.EXECUTOR == "ray":
            from code_used_upload.experiments.ray_executor import RayCluster, run_grid_on_ray
            failed = run_grid_on_ray(dataset, grid, settings,
                                     RayCluster(args.RAY_ADDRESS, args.GPUS_PER_CELL))
        else:
            failed = run_grid_locally(dataset, grid, settings)
    print((Path(args.OUTPUTFOLDER) / "results.md").read_text())
    return failed


def report_only(args):
    """Every summary file rebuilt from the complete cells under OUTPUTFOLDER, for the requested models and tasks."""
    from code_used_upload.reports.summary import write_all_summaries
    from code_used_upload.reports.tables import collect_results

    results = collect_results(args.OUTPUTFOLDER)
    if not (results["model"].isin(args.MODELS) & results["task"].isin(args.TASKS)).any():
        raise UserError(f"no complete cell of the requested models and tasks under {args.OUTPUTFOLDER}; "
                        "train some first, or point --outputfolder at a finished run")
    for seed in write_all_summaries(args.OUTPUTFOLDER, args.MODELS, args.TASKS):
        print(f"LDM effect: left out {seed}")
    print((Path(args.OUTPUTFOLDER) / "results.md").read_text())
    return []


def main(argv=None):
    args = parse_args(argv)
    try:
        failed = run(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: complete cells are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    for name, error in failed:
        print(f"cell {name} failed: {error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
