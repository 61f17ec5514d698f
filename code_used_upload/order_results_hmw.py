"""Train HMW and its baselines under every noise setting of the HMW paper and write the table.

    python code_used_upload/order_results_hmw.py                       # the paper's grid (GPUs: 250 epochs a run)
    python code_used_upload/order_results_hmw.py --settings cifar10/sym0.5 --methods cce,hmw+cce --seeds 0
    python code_used_upload/order_results_hmw.py --demo                # real digits, both views (docs/noisy-labels.md)

The constants below choose the experiment; each one is overridden by the flag of the same name in lower
case. A setting is `<dataset>/<sym|asym><noise rate>`; each (setting, method, seed) is one run of the
authors' `train_main.py` (the same as `train_hmw.py --check_loc <its folder>`), in
`<outputfolder>/<dataset>/<setting>/models/<method>/seed<k>/`. Rerunning skips complete runs and
resumes an interrupted one after its last finished epoch; `--report-only` rebuilds the table from them.
"""
import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the package importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from code_used_upload.configs import flags
from code_used_upload.errors import UserError, exit_status
from code_used_upload.training import settings as run_settings

DATA_PATH = "data/"                # holds (or receives) cifar-10-batches-py/ and cifar-100-python/
OUTPUTFOLDER = "outputs/hmw/"      # every run, and results.md/.csv/.png
SETTINGS = [f"{dataset}/{noise}" for dataset in ("cifar10", "cifar100")  # the paper's columns
            for noise in ("sym0.2", "sym0.5", "sym0.8", "sym0.9", "asym0.1", "asym0.3", "asym0.4")]
METHODS = ["cce", "hmw+cce", "sce", "hmw+sce", "uc", "hmw+uc"]  # the table's rows: each baseline, then with HMW (also: cleanlab)
SEEDS = [0, 1, 2]                  # one run per (setting, method, seed); the seed also draws the noise
EPOCHS: int = None                 # training epochs; a number overrides the recipe's
BATCH_SIZE: int = None             # training batch; a number overrides the recipe's
LR: float = None                   # learning rate; a number overrides the recipe's (0.02)
MILESTONES: flags.milestones = None  # epochs at which the lr is multiplied by 0.1, e.g. 125/200
WARM_UP: int = None                # the first epochs without HMW's weights (uc, hmw+uc: without selection)
AUGMENT: str = None                # training view: none, shift (digits) or crop_flip (CIFAR); None: the recipe's
ARCH: str = None                   # imagefolder: mlp, preact_resnet18, resnet18 or resnet50; None: by the image size
IMAGE_SIZE: int = None             # imagefolder: the side in pixels every image is resized to
VAL_FRACTION: float = None         # imagefolder: the share of the images held out for the accuracy columns
PRETRAINED: str = None             # imagefolder, resnet18/50: imagenet (torchvision's weights) or a state dict's path
CV_N_FOLDS = 5                     # cleanlab: the folds of its out-of-fold predicted probabilities
ALPHA_NMW = 100.0                  # HMW's alpha (the AUM term), the authors' --alpha_nmw
BETA_NMW = 100.0                   # HMW's beta (the TKUM term), the authors' --beta_nmw
TOP_RATE_NMW = 0.01                # HMW's top rate, k = max(int((C - 2) rate), 1), the authors' --top_rate_nmw
IF_AUM = True                      # HMW's AUM term (off: TKUM only), the authors' --if_aum
IF_ANNEAL = True                   # HMW's annealed integration over epochs, the authors' --if_anneal
IF_SPHERICAL = True                # HMW's cosine distances, the authors' --if_spherical
NORMALIZE_LOGITS = True            # HMW's loss on z/||z|| as the authors (off: raw logits, an ablation)
DEVICE = "auto"                    # where runs train; auto: CUDA when present
PRECISION = "tf32"                 # fp32: strict; tf32: float32, TF32 on CUDA; bf16: CUDA autocast
DETERMINISTIC = False              # CUDA: deterministic algorithms, no cuDNN autotuning (slower)
EXECUTOR = "local"                 # local: one run after another; ray: runs as Ray tasks
RAY_ADDRESS: str = None            # a running Ray cluster to join ("auto"); None starts a local one
GPUS_PER_CELL = 0.0                # Ray: GPUs per run; fractions pack runs on one GPU
CPUS_PER_CELL: int = None          # CPU threads of a run under both executors (Ray reserves them)
CONSTANTS = [name for name in globals() if name.isupper()]  # each has its flag

# --demo: scikit-learn's bundled digits (1,797 real 8 x 8 images), three seeds, at the noise settings where plain
# cross-entropy memorises the noise, and without noise (what a method costs there); every method under the views
# it runs with, each view a table of its own (<outputfolder>/<view>/), so that methods are compared under the same
# views: none (the digits recipe's) and shift (UniCon's weak view on digits)
DEMO_VIEWS = {"none": ["cce", "hmw+cce", "cleanlab"], "shift": ["cce", "hmw+cce", "cleanlab", "uc", "hmw+uc"]}
DEMO = dict(OUTPUTFOLDER="outputs/hmw-demo/", SETTINGS=["digits/sym0", "digits/sym0.4", "digits/sym0.6", "digits/asym0.4"],
            METHODS=list(dict.fromkeys(m for methods in DEMO_VIEWS.values() for m in methods)), DEVICE="cpu",
            CPUS_PER_CELL=1)  # the MLP gains nothing from more threads
CHOICES = dict(DEVICE=("auto", "cpu", "cuda", "cuda:N"), PRECISION=run_settings.PRECISIONS, EXECUTOR=("local", "ray"))
NONE_MEANS = dict(EPOCHS="the recipe's: 250, digits 100", BATCH_SIZE="the recipe's: 128, digits 32",
                  LR="the recipe's: 0.02", MILESTONES="the recipe's: 125/200, digits 50/80",
                  WARM_UP="the recipe's: 10, cifar100 30", AUGMENT="the recipe's: crop_flip on CIFAR, none on digits",
                  ARCH="mlp below 32 px, preact_resnet18 from 32, resnet18 from 64", IMAGE_SIZE="32",
                  VAL_FRACTION="0.1", PRETRAINED="from scratch",
                  RAY_ADDRESS="start a local Ray", CPUS_PER_CELL="every core")


def parse_args(argv=None):
    """One flag per constant (configs/flags.py), the demo's values under --demo."""
    argv = sys.argv[1:] if argv is None else argv
    defaults = {name: globals()[name] for name in CONSTANTS}
    if "--demo" in argv:
        defaults.update(DEMO)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_constant_flags(parser, __file__, defaults, globals().get("__annotations__", {}), CHOICES, NONE_MEANS)
    parser.add_argument("--report-only", "--report_only", action="store_true",
                        help="rebuild results.md/.csv/.png from the runs under OUTPUTFOLDER; no data, no training")
    parser.add_argument("--demo", action="store_true",
                        help="the digits at no noise, sym 0.4 and 0.6 and asym 0.4, every method under the views it runs "
                             f"with ({'; '.join(f'{v}: {chr(44).join(m)}' for v, m in DEMO_VIEWS.items())}), a table per "
                             "view; --methods, --settings, --seeds and --views narrow it")
    parser.add_argument("--views", type=flags.comma_list(str),
                        help=f"with --demo: the views to run, of {', '.join(DEMO_VIEWS)} (default: all); results.md "
                             "then covers every view run so far under OUTPUTFOLDER")
    return parser.parse_args(argv)


def check(args):
    from code_used_upload.experiments.noisy_run import setting_name
    from code_used_upload.models.noisy import METHODS as KNOWN_METHODS

    for name, values in (("settings", args.SETTINGS), ("methods", args.METHODS), ("seeds", args.SEEDS)):
        if not values:
            raise UserError(f"no {name} given")
    args.SETTINGS = list(dict.fromkeys(setting_name(setting) for setting in args.SETTINGS))  # sym0.40 is sym0.4
    unknown = [method for method in args.METHODS if method not in KNOWN_METHODS]
    if unknown:
        raise UserError(f"unknown method {', '.join(unknown)}; use {', '.join(KNOWN_METHODS)}")
    for name in ("EPOCHS", "BATCH_SIZE", "CPUS_PER_CELL"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.lower()} {getattr(args, name)}: must be at least 1")
    for name in ("EXECUTOR", "PRECISION"):
        if getattr(args, name) not in CHOICES[name]:
            raise UserError(f"--{name.lower()} {getattr(args, name)}: use one of {', '.join(CHOICES[name])}")
    if args.GPUS_PER_CELL < 0:
        raise UserError(f"--gpus-per-cell {args.GPUS_PER_CELL}: a share of a GPU, 0 or more")
    bad_seeds = [seed for seed in args.SEEDS if not 0 <= seed < 2**32]
    if bad_seeds:
        raise UserError(f"--seeds {','.join(map(str, bad_seeds))}: integers from 0 to 2**32 - 1")
    if args.views is not None:
        if not args.demo:
            raise UserError("--views chooses among the demo's views: add --demo (or use --augment for one grid)")
        unknown = [view for view in args.views if view not in DEMO_VIEWS]
        if unknown or not args.views:
            raise UserError(f"--views {','.join(args.views)}: use some of {', '.join(DEMO_VIEWS)}")


def run(args):
    """Check the input, run the grid (the demo: one grid per view), write the tables; returns the failed runs."""
    from code_used_upload.experiments.folders import check_output_folder, mark_output_folder
    from code_used_upload.reports.noisy import write_views_summary

    check(args)
    check_output_folder(args.OUTPUTFOLDER, "--outputfolder")
    if not args.demo:
        return run_one_view(args)
    views = {view: [m for m in methods if m in args.METHODS] for view, methods in DEMO_VIEWS.items()
             if view in (args.views or DEMO_VIEWS)}
    views = {view: methods for view, methods in views.items() if methods}
    failed = []
    for view, methods in views.items():
        failed += run_one_view(argparse.Namespace(**{**vars(args), "AUGMENT": view, "METHODS": methods,
                                                     "OUTPUTFOLDER": str(Path(args.OUTPUTFOLDER) / view)}))
    mark_output_folder(args.OUTPUTFOLDER, "--outputfolder")
    written = {view: methods for view, methods in DEMO_VIEWS.items()
               if (Path(args.OUTPUTFOLDER) / view / "results.csv").is_file()}
    write_views_summary(args.OUTPUTFOLDER, written)
    print((Path(args.OUTPUTFOLDER) / "results.md").read_text())
    return failed


def run_one_view(args):
    """The grid of one view (and one output folder); returns the failed runs."""
    from code_used_upload.experiments.executors import run_grid
    from code_used_upload.experiments.folders import check_apart, check_output_folder, mark_output_folder
    from code_used_upload.experiments.grid import Grid
    from code_used_upload.models.noisy import IMAGE_FOLDER
    from code_used_upload.experiments.noisy import NoisyLabelExperiment
    from code_used_upload.experiments.noisy_run import HMWOptions, RunOptions
    from code_used_upload.reports.noisy import collect_noisy_results, write_noisy_summary
    from code_used_upload.training.device import default_threads, resolve_device

    if args.report_only:
        check_output_folder(args.OUTPUTFOLDER, "--outputfolder")
        mark_output_folder(args.OUTPUTFOLDER, "--outputfolder")
        if collect_noisy_results(args.OUTPUTFOLDER, args.METHODS, args.SETTINGS).empty:
            raise UserError(f"no complete run of the requested methods and settings under {args.OUTPUTFOLDER}")
        write_noisy_summary(args.OUTPUTFOLDER, args.METHODS, args.SETTINGS)
        if not args.demo:
            print((Path(args.OUTPUTFOLDER) / "results.md").read_text())
        return []
    resolve_device(args.DEVICE)
    if any(setting.startswith(f"{IMAGE_FOLDER}/") for setting in args.SETTINGS):
        check_apart(args.DATA_PATH, args.OUTPUTFOLDER, "--outputfolder")
    options = HMWOptions(alpha=args.ALPHA_NMW, beta=args.BETA_NMW, top_rate=args.TOP_RATE_NMW, if_aum=args.IF_AUM,
                         if_anneal=args.IF_ANNEAL, if_spherical=args.IF_SPHERICAL, normalize_logits=args.NORMALIZE_LOGITS)
    run_options = RunOptions(lr=args.LR, milestones=args.MILESTONES, augment=args.AUGMENT, cv_n_folds=args.CV_N_FOLDS,
                             warm_up=args.WARM_UP, arch=args.ARCH, image_size=args.IMAGE_SIZE,
                             val_fraction=args.VAL_FRACTION, pretrained=args.PRETRAINED)
    grid = Grid(NoisyLabelExperiment(args.DATA_PATH, args.OUTPUTFOLDER, options, run_options), args.SETTINGS,
                args.METHODS, args.SEEDS)
    settings = run_settings.RunSettings(epochs=args.EPOCHS, batch_size=args.BATCH_SIZE, device=args.DEVICE,
                                        precision=args.PRECISION, deterministic=args.DETERMINISTIC,
                                        threads=args.CPUS_PER_CELL or default_threads())
    failed = run_grid(grid, settings, args.EXECUTOR, args.RAY_ADDRESS, args.GPUS_PER_CELL)
    if not args.demo:
        print((Path(args.OUTPUTFOLDER) / "results.md").read_text())
    return failed


def main(argv=None):
    args = parse_args(argv)
    return exit_status(lambda: run(args), "run", "complete runs and finished epochs are kept; rerun the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
