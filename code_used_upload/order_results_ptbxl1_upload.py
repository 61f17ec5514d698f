"""Train every baseline and its +LDM variant on the six PTB-XL tasks and write the paper's table.

    python code_used_upload/order_results_ptbxl1_upload.py                  # the whole grid
    python code_used_upload/order_results_ptbxl1_upload.py --dataset icbeb  # the same models on ICBEB 2018
    python code_used_upload/order_results_ptbxl1_upload.py --dataset folder --datafolder my_ecgs/ --models fcn_wang
    python code_used_upload/order_results_ptbxl1_upload.py --dataset icbeb --init_from outputs/exp0/models/fcn_wang/seed0
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

from code_used_upload.configs import flags, paper, tasks
from code_used_upload.data import leads as ecg_leads
from code_used_upload.errors import UserError, exit_status
from code_used_upload.training import settings as run_settings

DATASET = "ptbxl"                  # ptbxl: PTB-XL, six label tasks; icbeb: ICBEB 2018 (CPSC 2018), its task all; folder: your records, task all
DATAFOLDER = "data/ptbxl/"         # the data (./get_ptbxl.sh puts PTB-XL here; data/ICBEB/ for icbeb; for folder yours, with labels.csv)
OUTPUTFOLDER = "outputs/"          # everything the run writes, in the benchmark's layout
MODELS = paper.PAPER_MODELS        # the 12: six backbones, each with and without LDM (also: s4, s4_ldm, yours)
TASKS = tasks.TASKS                # the benchmark's label tasks (all six; ICBEB's one, all, under --dataset icbeb)
SEEDS = [0, 1, 2]                  # one cell per (task, model, seed)
EPOCHS: int = None                 # training epochs; a number overrides every model's recipe (None: the recipe's)
SAMPLING_FREQUENCY = 100           # Hz of the records the models see (a folder's records are resampled to it)
LEADS = list(ecg_leads.STANDARD_LEADS) # the leads the models see, by name, in this order (e.g. II or I,II,V1; any case)
TRAIN_FRACTION = [1.0]             # shares of the training folds to train on, each its own cells (label-stratified, seeded)
INIT_FROM: str = None              # a trained cell to fine-tune from, as the benchmark fine-tunes (its backbone, a new output layer)
FINETUNE_EPOCHS = 30               # with --init_from: the epochs of each of its two stages (the benchmark's 30)
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
# fastest, long enough that every model learns it (test macro-AUC 0.92 to 1.00), in about 2.5 minutes on 2 CPU cores:
# 100 steps of 8 crops (a CPU's step costs about its batch; 60 steps of 32 took 4.5 minutes)
DEMO = dict(OUTPUTFOLDER="outputs/demo/", TASKS=["superdiagnostic"], SEEDS=[0], EPOCHS=2, BATCH_SIZE=8, DEVICE="cpu")
DEMO_RECORDS = 500
# XResNet1d101 gets about twice the steps, of 32: the benchmark's weight_init sets every BatchNorm weight to 1,
# also the zero-initialised last BatchNorm of each residual branch, so its 33 branches start at full
# strength instead of as the identity, and the 101 layers need about 180 steps where the others learn in 100
# (after 100 steps of 8: 0.82, +LDM 0.80); and batches of 8 are too small for them (200 steps of 8 gave +LDM 0.76
# or 0.93 by thread count, 200 of 16 0.88 or 0.91), 186 of 32 gave 0.99 and 0.97
DEMO_PER_MODEL = {model: dict(epochs=15, batch_size=32) for model in ("xresnet1d101", "xresnet1d101_ldm")}
# --dataset icbeb: the folder ./get_icbeb.sh converts ICBEB 2018 into, and the benchmark's one task on it
DATASET_DEFAULTS = dict(icbeb=dict(DATAFOLDER="data/ICBEB/", TASKS=list(tasks.ICBEB_EXPERIMENTS)),
                        folder=dict(DATAFOLDER="data/my_ecgs/", TASKS=list(tasks.FOLDER_EXPERIMENTS)))
# the values of the constants that take one of a few, for --help and the checks
CHOICES = dict(DATASET=tuple(tasks.DATASET_EXPERIMENTS), SAMPLING_FREQUENCY=(100, 500),
               DEVICE=("auto", "cpu", "cuda", "cuda:N"),
               PRECISION=run_settings.PRECISIONS,
               EXECUTOR=("local", "ray"))
# what a default of None means, for --help
NONE_MEANS = dict(EPOCHS="each model's recipe: 50, S4 100", RAY_ADDRESS="start a local Ray", CPUS_PER_CELL="every core",
                  INIT_FROM="train from scratch")


def chosen_dataset(argv):
    """The --dataset of `argv`, read before the other flags, whose defaults depend on it."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--dataset", default=DATASET)
    return parser.parse_known_args(argv)[0].dataset


def parse_args(argv=None):
    """One flag per constant, its default the constant (or the dataset's value under --dataset icbeb, the
    demo's under --demo), its help the constant's comment (configs/flags.py)."""
    argv = sys.argv[1:] if argv is None else argv
    defaults = {name: globals()[name] for name in CONSTANTS}
    defaults.update(DATASET_DEFAULTS.get(chosen_dataset(argv), {}))
    if "--demo" in argv:
        defaults.update(DEMO)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_constant_flags(parser, __file__, defaults, globals().get("__annotations__", {}), CHOICES, NONE_MEANS)
    parser.add_argument("--prepare-only", "--prepare_only", action="store_true",
                        help="write each task's labels, classes and scaler under OUTPUTFOLDER; train nothing")
    parser.add_argument("--report-only", "--report_only", action="store_true",
                        help="rebuild every summary file from the cell folders under OUTPUTFOLDER; no data, no training")
    own = "; ".join(f"{model} {settings['epochs']} of {settings['batch_size']}" for model, settings in DEMO_PER_MODEL.items())
    parser.add_argument("--demo", action="store_true",
                        help=f"every model on a synthetic PTB-XL ({DEMO_RECORDS} records, {DEMO['EPOCHS']} epochs of "
                             f"{DEMO['BATCH_SIZE']}; {own}; {', '.join(DEMO['TASKS'])}): the whole pipeline in about "
                             "2.5 minutes on a CPU")
    args = parser.parse_args(argv)
    args.given = {token.split("=")[0].lstrip("-").replace("-", "_").upper() for token in argv if token.startswith("--")}
    return args


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
    from code_used_upload.experiments.executors import run_grid
    from code_used_upload.experiments.folders import check_output_folder, mark_output_folder
    from code_used_upload.experiments.grid import Grid
    from code_used_upload.models import available_models, model_recipe
    from code_used_upload.training.device import default_threads, resolve_device
    from code_used_upload.training.settings import RunSettings

    if args.DATASET not in CHOICES["DATASET"]:
        raise UserError(f"--dataset {args.DATASET}: use one of {', '.join(CHOICES['DATASET'])}")
    if args.demo and args.DATASET != DATASET:
        raise UserError(f"--demo runs on a synthetic PTB-XL; drop --dataset {args.DATASET}")
    check_names(args.MODELS, available_models(), "model")
    check_names(args.TASKS, list(tasks.DATASET_EXPERIMENTS[args.DATASET]), "task")
    if args.DATASET != "folder" and args.SAMPLING_FREQUENCY not in CHOICES["SAMPLING_FREQUENCY"]:
        raise UserError(f"--sampling_frequency {args.SAMPLING_FREQUENCY}: {tasks.DATASET_NAMES[args.DATASET]} has "
                        "100 and 500 Hz records")
    for name in ("EPOCHS", "BATCH_SIZE", "FINETUNE_EPOCHS", "SAMPLING_FREQUENCY"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.lower()} {getattr(args, name)}: must be at least 1")
    for name in ("EXECUTOR", "PRECISION"):
        if getattr(args, name) not in CHOICES[name]:
            raise UserError(f"--{name.lower()} {getattr(args, name)}: use one of {', '.join(CHOICES[name])}")
    if args.CPUS_PER_CELL is not None and args.CPUS_PER_CELL < 1:
        raise UserError(f"--cpus-per-cell {args.CPUS_PER_CELL}: must be at least 1")
    if args.GPUS_PER_CELL < 0:
        raise UserError(f"--gpus-per-cell {args.GPUS_PER_CELL}: a share of a GPU, 0 or more")
    bad_seeds = [seed for seed in args.SEEDS if not 0 <= seed < 2**32]
    if bad_seeds:
        raise UserError(f"--seeds {','.join(map(str, bad_seeds))}: integers from 0 to 2**32 - 1")
    fractions = list(dict.fromkeys(args.TRAIN_FRACTION))
    if not fractions or not all(0 < fraction <= 1 for fraction in fractions):
        raise UserError(f"--train_fraction {','.join(f'{fraction:g}' for fraction in fractions)}: give shares of the "
                        "training folds above 0 and at most 1, e.g. 0.1,0.5,1")
    leads = ecg_leads.parse_leads(args.LEADS)
    if "FINETUNE_EPOCHS" in args.given and not args.INIT_FROM:
        raise UserError(f"--finetune_epochs {args.FINETUNE_EPOCHS}: the epochs of each stage of fine-tuning a cell; "
                        "give the cell with --init_from, or drop --finetune_epochs")
    check_output_folder(args.OUTPUTFOLDER, "--outputfolder")
    if args.report_only:
        mark_output_folder(args.OUTPUTFOLDER, "--outputfolder")
        return report_only(args)
    if args.INIT_FROM:
        leads = check_source_cell(args, leads)
    resolve_device(args.DEVICE)
    with tempfile.TemporaryDirectory(prefix="synthetic-ptbxl-") as scratch:
        if args.demo:
            from code_used_upload.data.synthetic import write_synthetic_ptbxl
            args.DATAFOLDER = str(write_synthetic_ptbxl(Path(scratch) / "ptbxl", n_records=DEMO_RECORDS,
                                                        seed=0, sampling_frequencies=(args.SAMPLING_FREQUENCY,)))
        base = ECGExperiment(args.DATAFOLDER, args.OUTPUTFOLDER, args.SAMPLING_FREQUENCY, dataset=args.DATASET,
                             leads=leads, window_seconds=max(model_recipe(model).window_seconds for model in args.MODELS),
                             init_from=args.INIT_FROM, finetune_epochs=args.FINETUNE_EPOCHS)
        settings = RunSettings(epochs=args.EPOCHS, batch_size=args.BATCH_SIZE, sampling_frequency=args.SAMPLING_FREQUENCY,
                               device=args.DEVICE, compile=args.COMPILE, val_every=args.VAL_EVERY,
                               precision=args.PRECISION, deterministic=args.DETERMINISTIC,
                               threads=args.CPUS_PER_CELL or default_threads(),
                               per_model=DEMO_PER_MODEL if args.demo else None)
        if not args.prepare_only:  # cells of other settings are refused first, before any data is read
            for fraction in fractions:
                Grid(base.with_fraction(fraction), args.TASKS, args.MODELS, args.SEEDS).check_settings(settings)
        experiments = []
        for fraction in fractions:  # every fraction's data read and split before any cell trains: bad input stops here
            experiments.append((experiments[0] if experiments else base).with_fraction(fraction))
            for task in args.TASKS:
                experiments[-1].check(task)
        mark_output_folder(args.OUTPUTFOLDER, "--outputfolder")  # checked at the start, the input now too
        if args.prepare_only:
            for experiment in experiments:
                for task in args.TASKS:
                    experiment.prepare(task)
            print(f"prepared {', '.join(args.TASKS)} under {args.OUTPUTFOLDER}")
            return []
        failed = []
        for experiment in experiments:
            grid = Grid(experiment, args.TASKS, args.MODELS, args.SEEDS)
            failed += run_grid(grid, settings, args.EXECUTOR, args.RAY_ADDRESS, args.GPUS_PER_CELL)
    print_summaries(args.OUTPUTFOLDER, transfer=bool(args.INIT_FROM) or fractions != [1.0])
    return failed


def check_source_cell(args, leads):
    """With --init_from: the cell read (one line if it is not a trained cell), --models defaulting to its model
    and refused where another backbone is asked for, its rate and leads those of the run; returns the leads."""
    from code_used_upload.experiments.trained_cell import read_trained_cell
    from code_used_upload.models import split_model_name

    cell = read_trained_cell(args.INIT_FROM, "--init_from")
    source = cell.record["model"]
    if "MODELS" not in args.given:
        args.MODELS = [source]
    other = [model for model in args.MODELS if split_model_name(model)[0] != split_model_name(source)[0]]
    if other:
        backbone = split_model_name(source)[0]
        raise UserError(f"--init_from {args.INIT_FROM} is a {source} cell, whose backbone {backbone} is not that of "
                        f"{', '.join(other)}: pass --models {backbone} or {backbone}_ldm")
    if cell.record["sampling_frequency"] != args.SAMPLING_FREQUENCY:
        raise UserError(f"--init_from {args.INIT_FROM} was trained at {cell.record['sampling_frequency']} Hz: pass "
                        f"--sampling_frequency {cell.record['sampling_frequency']}")
    if "LEADS" in args.given and leads != cell.leads:
        raise UserError(f"--init_from {args.INIT_FROM} was trained on the leads {','.join(cell.leads)}, not "
                        f"{','.join(leads)}: drop --leads (the cell's leads are used) or fine-tune another cell")
    return cell.leads


def report_only(args):
    """Every summary file rebuilt from the complete cells under OUTPUTFOLDER, for the requested models and tasks."""
    from code_used_upload.reports.summary import write_all_summaries
    from code_used_upload.reports.tables import collect_results

    results = collect_results(args.OUTPUTFOLDER, variants=True)
    requested = results["model"].isin(args.MODELS) & results["task"].isin(args.TASKS)
    if not (requested & (results["dataset"] == args.DATASET)).any():
        raise UserError(f"no complete cell of the requested models and {tasks.DATASET_NAMES[args.DATASET]} tasks "
                        f"under {args.OUTPUTFOLDER}; train some first, or point --outputfolder at a finished run")
    for seed in write_all_summaries(args.OUTPUTFOLDER, args.MODELS, args.TASKS, dataset=args.DATASET):
        print(f"LDM effect: left out {seed}")
    print_summaries(args.OUTPUTFOLDER, transfer=True)
    return []


def print_summaries(outputfolder, transfer):
    """results.md, and transfer.md where asked for and written."""
    print((Path(outputfolder) / "results.md").read_text())
    if transfer and (Path(outputfolder) / "transfer.md").is_file():
        print((Path(outputfolder) / "transfer.md").read_text())


def main(argv=None):
    args = parse_args(argv)
    return exit_status(lambda: run(args), "cell", "complete cells are kept; rerun the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
