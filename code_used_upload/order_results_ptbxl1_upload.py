"""Train every baseline and its +LDM variant on the six PTB-XL tasks and write the paper's table.

    python code_used_upload/order_results_ptbxl1_upload.py                  # the whole grid
    python code_used_upload/order_results_ptbxl1_upload.py --models fcn_wang,fcn_wang_ldm --seeds 0 --epochs 5
    python code_used_upload/order_results_ptbxl1_upload.py --demo           # synthetic data, a few minutes on CPU

The constants below choose the experiment; each one is overridden by the flag of the same name in
lower case (`--sampling_frequency 500` or `--sampling-frequency 500`). Rerunning skips complete cells.
"""
import argparse
import re
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the package importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from code_used_upload.configs import paper, tasks
from code_used_upload.errors import UserError
from code_used_upload.training import settings as run_settings

DATAFOLDER = "data/ptbxl/"         # PTB-XL in the release's layout (./get_ptbxl.sh puts it here)
OUTPUTFOLDER = "outputs/"          # everything the run writes, in the benchmark's layout
MODELS = paper.PAPER_MODELS        # the 12: six backbones, each with and without LDM (also: s4, s4_ldm, yours)
TASKS = tasks.TASKS                # the benchmark's label tasks (all six)
SEEDS = [0, 1, 2]                  # one cell per (task, model, seed)
EPOCHS: int = None                 # training epochs; a number overrides every model's recipe (None: the recipe's)
SAMPLING_FREQUENCY = 100           # Hz of the records the models see
BATCH_SIZE = 128                   # training batch (the benchmark's 128)
DEVICE = "auto"                    # where cells train; auto: CUDA when present
COMPILE = False                    # torch.compile the models (CUDA runs)
PRECISION = "tf32"                 # fp32: strict; tf32: float32, TF32 on CUDA (the reference); bf16: CUDA autocast
DETERMINISTIC = False              # CUDA: deterministic algorithms, no cuDNN autotuning (slower)
VAL_EVERY = 0                      # validation macro-AUC every N epochs in training.png; 0 = off
EXECUTOR = "local"                 # local: one cell after another; ray: cells as Ray tasks
RAY_ADDRESS: str = None            # a running Ray cluster to join ("auto"); None starts a local one
GPUS_PER_CELL = 0.0                # Ray: GPUs per cell; fractions pack small cells on one GPU
CPUS_PER_CELL: int = None          # CPU threads of a cell under both executors (Ray reserves them)
CONSTANTS = [name for name in globals() if name.isupper()]  # each has its flag

# --demo: every model on the project's synthetic PTB-XL (in a temporary folder), on the task it learns
# fastest, long enough that every model learns it (test macro-AUC 0.93 to 1.00), in about 4 minutes on 2 CPU cores
DEMO = dict(OUTPUTFOLDER="outputs/demo/", TASKS=["superdiagnostic"], SEEDS=[0], EPOCHS=5, BATCH_SIZE=32, DEVICE="cpu")
DEMO_RECORDS = 500
# XResNet1d101 gets three times the steps: the benchmark's weight_init sets every BatchNorm weight to 1,
# also the zero-initialised last BatchNorm of each residual branch, so its 33 branches start at full
# strength instead of as the identity, and the 101 layers need about 180 steps where the others need 60
# (test macro-AUC after 5 / 10 / 15 epochs: 0.87 / 0.94 / 0.99; 1.00 after 5 with the zero init)
DEMO_EPOCHS_PER_MODEL = {"xresnet1d101": 15, "xresnet1d101_ldm": 15}
# the values of the constants that take one of a few, for --help and the checks
CHOICES = dict(SAMPLING_FREQUENCY=(100, 500), DEVICE=("auto", "cpu", "cuda", "cuda:N"),
               PRECISION=run_settings.PRECISIONS,
               EXECUTOR=("local", "ray"))
# what a default of None means, for --help
NONE_MEANS = dict(EPOCHS="each model's recipe: 50, S4 100", RAY_ADDRESS="start a local Ray", CPUS_PER_CELL="every core")


def comma_list(item_type):
    def parse(text):
        return [item_type(item) for item in text.split(",") if item.strip()]
    return parse


def constant_comments():
    """Each constant's comment in this file: its flag's help, written once."""
    pattern = re.compile(r"^([A-Z_]+)(?::[^=]*)?\s*=.*?#\s*(.+)$", re.MULTILINE)
    return dict(pattern.findall(Path(__file__).read_text()))


def parse_args(argv=None):
    """One flag per constant, its default the constant (or the demo's value under --demo), its help the
    constant's comment."""
    argv = sys.argv[1:] if argv is None else argv
    defaults = {name: globals()[name] for name in CONSTANTS}
    if "--demo" in argv:
        defaults.update(DEMO)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    comments = constant_comments()
    for name in CONSTANTS:
        value = defaults[name]
        flags = list(dict.fromkeys([f"--{name.lower()}", f"--{name.lower().replace('_', '-')}"]))
        if isinstance(value, bool):
            parser.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=value,
                                help=f"{comments[name]} (default: {value})")
        elif isinstance(value, list):
            parser.add_argument(*flags, dest=name, type=comma_list(type(value[0])), default=value,
                                help=f"{comments[name]}; comma-separated (default: {','.join(map(str, value))})")
        else:
            kind = globals().get("__annotations__", {}).get(name, type(value))
            shown = NONE_MEANS[name] if value is None else value
            choices = f" [{' | '.join(map(str, CHOICES[name]))}]" if name in CHOICES else ""
            parser.add_argument(*flags, dest=name, type=kind, default=value, metavar=name,
                                help=f"{comments[name]}{choices} (default: {shown})")
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
    from code_used_upload.experiments.ecg import ECGExperiment
    from code_used_upload.experiments.grid import Grid, run_grid_locally
    from code_used_upload.models import available_models
    from code_used_upload.training.device import default_threads, resolve_device
    from code_used_upload.training.settings import RunSettings

    check_names(args.MODELS, available_models(), "model")
    check_names(args.TASKS, tasks.TASKS, "task")
    if args.SAMPLING_FREQUENCY not in CHOICES["SAMPLING_FREQUENCY"]:
        raise UserError(f"--sampling_frequency {args.SAMPLING_FREQUENCY}: PTB-XL has 100 and 500 Hz records")
    for name in ("EPOCHS", "BATCH_SIZE"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.lower()} {getattr(args, name)}: must be at least 1")
    for name in ("EXECUTOR", "PRECISION"):
        if getattr(args, name) not in CHOICES[name]:
            raise UserError(f"--{name.lower()} {getattr(args, name)}: use one of {', '.join(CHOICES[name])}")
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
        experiment = ECGExperiment(args.DATAFOLDER, args.OUTPUTFOLDER, args.SAMPLING_FREQUENCY)
        if args.prepare_only:
            for task in args.TASKS:
                experiment.prepare(task)
            print(f"prepared {', '.join(args.TASKS)} under {args.OUTPUTFOLDER}")
            return []
        grid = Grid(experiment, args.TASKS, args.MODELS, args.SEEDS)
        settings = RunSettings(epochs=args.EPOCHS, batch_size=args.BATCH_SIZE, sampling_frequency=args.SAMPLING_FREQUENCY,
                               device=args.DEVICE, compile=args.COMPILE, val_every=args.VAL_EVERY,
                               precision=args.PRECISION, deterministic=args.DETERMINISTIC,
                               threads=args.CPUS_PER_CELL or default_threads(),
                               epochs_per_model=DEMO_EPOCHS_PER_MODEL if args.demo else None)
        if args.EXECUTOR == "ray":
            from code_used_upload.experiments.ray_executor import RayCluster, run_grid_on_ray
            failed = run_grid_on_ray(grid, settings, RayCluster(args.RAY_ADDRESS, args.GPUS_PER_CELL))
        else:
            failed = run_grid_locally(grid, settings)
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
