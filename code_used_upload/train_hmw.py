"""One noisy-label run with the HMW authors' command-line flags: their `train_main.py`, on CPU or CUDA.

    python code_used_upload/train_hmw.py --if_aum 1 --if_anneal 1 --if_spherical 1 --seed 123 --dataset 'cifar10' \\
        --num_class 10 --data_path './data/cifar10' --noise_mode 'sym' --num_epochs 250 --milestones '125/200' \\
        --r 0.2 --method 'hmw+cce' --alpha_nmw 100 --beta_nmw 100 --top_rate_nmw 0.01 \\
        --check_loc './checkpoint_cifar10_cce_final_sym_hmw/'
    python code_used_upload/train_hmw.py --dataset digits --noise_mode sym --r 0.6 --method hmw+cce --seed 3 --check_loc DIR
    python code_used_upload/train_hmw.py --dataset imagefolder --data_path my_images/ --check_loc DIR

Every command of the authors' README runs as written. `--check_loc` is the folder that receives the run:
`epochs.csv` (per epoch: clean test accuracy, training loss, the mean weight of the clean and of the
mislabelled samples, the AUROC of the weights and of AUM at telling them apart, AUM to the first
learning-rate drop and over every epoch), `cell.json` (last, best and last-10 accuracy as fractions, the
final AUROCs, the run's identity, settings, provenance), `model.pt`, `noise.npz` (the noisy labels and
their mask), `weights.npz`, `weights.png` and `label_issues.csv` (every training image, the most suspect
label first: reports/label_issues.py). It appears only when the run is complete, and only in a new or
empty folder: a --check_loc holding anything else (your files, `.`) is refused before anything is read,
and nothing in it is touched. Started again with the same run (the flags as they resolve: `--lr 0.02`
is the recipe's rate, `--alpha_nmw` does not concern cce), an interrupted run resumes after its last
finished epoch and a complete one is not run again; another run (another --r, --if_aum, ...) stops with
one line naming the differences, so that two runs never share a folder (the authors' README names one
--check_loc for several runs: give each its own). `--dataset digits` runs scikit-learn's bundled digits with a small MLP and a recipe of its
own (models/noisy.py), in seconds on a CPU; the authors' flags still override it. `--method cleanlab`
runs cleanlab's find_label_issues on K-fold out-of-fold probabilities and trains on what it keeps.

`--dataset imagefolder --data_path DIR` runs on your own images, one subfolder per class (torchvision's
ImageFolder layout, data/imagefolder.py), with their labels as they are (`--noise_mode none`, its
default there): label_issues.csv then lists the images whose folder HMW doubts, by their path under
DIR. The images are resized to --image_size; --val_fraction of them, the same for every seed, are held
out for the accuracy columns. `--arch` chooses the network, each with a recipe suited to it:
mlp (the digits' recipe), preact_resnet18 (the CIFAR-10 recipe; crop_flip at 32 x 32, shift at other
sides), resnet18 or resnet50 (torchvision's ImageNet networks for photographs, their recipe in
models/noisy.py; `--pretrained` starts from ImageNet's weights), by default the MLP below 32 px, the
PreAct-ResNet18 from 32 px and ResNet-18 from 64 px. CIFAR and the digits keep the networks fixed for
them (--arch, --image_size, --val_fraction and --pretrained are refused there).
Departures from the authors' code are listed in docs/noisy-labels.md.
"""
import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the package importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from code_used_upload.configs import flags
from code_used_upload.errors import UserError, exit_status

DATASET_CLASSES = {"cifar10": 10, "cifar100": 100, "digits": 10}
AUTHORS_RATE = 0.2  # --r's default for sym and asym noise
CIFAR_N_SPELLINGS = {"rand1": "random1", "rand2": "random2", "rand3": "random3", "noisy100": "noisy"}  # CIFAR-N's own


def flag_bool(text):
    """The authors' 0/1 switches (`--if_aum 1`), also true/false."""
    value = str(text).strip().lower()
    if value not in ("0", "1", "0.0", "1.0", "true", "false"):
        raise argparse.ArgumentTypeError(f"{text!r}: use 1 or 0")
    return value in ("1", "1.0", "true")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    authors = parser.add_argument_group("the authors' flags (train_main.py)")
    authors.add_argument("--dataset", default="cifar10", help="cifar10, cifar100, digits or imagefolder (your own "
                         "images under --data_path) (default: cifar10)")
    authors.add_argument("--num_class", type=int, default=None, help="must match the dataset (default: its classes; "
                         "imagefolder: its class folders)")
    authors.add_argument("--data_path", default="./data", help="the folder that holds (or receives) "
                         "cifar-10-batches-py/ or cifar-100-python/; imagefolder: the folder of one subfolder of "
                         "images per class (default: ./data)")
    authors.add_argument("--noise_mode", default=None, help="sym, asym, none (the labels as they are), or human: "
                         "CIFAR-N's people's labels, the set --noise_type names (default: sym; imagefolder: none)")
    authors.add_argument("--noise_type", default=None, help="--noise_mode human: CIFAR-10N's aggre, worst, random1, "
                         "random2 or random3, CIFAR-100N's noisy (CIFAR-N's own rand1..3 and noisy100 too); the label "
                         "file is downloaded into --data_path")
    authors.add_argument("--r", type=float, default=None, help=f"noise rate in 0..1 of sym and asym noise (default: "
                         f"{AUTHORS_RATE})")
    authors.add_argument("--method", default="hmw+cce", help="cce, sce, hmw+cce, hmw+sce, uc (UniCon), hmw+uc, or "
                         "this toolkit's cleanlab (default: hmw+cce)")
    authors.add_argument("--seed", type=int, default=123, help="draws the noise, the initialisation and the batches "
                         "(default: 123, the authors')")
    authors.add_argument("--num_epochs", type=int, default=None, help="epochs (default: the recipe's, 250; digits "
                         "and --arch mlp 100)")
    authors.add_argument("--milestones", type=flags.milestones, default=None,
                         help="epochs at which the lr is multiplied by 0.1 (default: the recipe's, 125/200; digits "
                              "and --arch mlp 50/80)")
    authors.add_argument("--batch_size", type=int, default=None,
                         help="cce, sce, hmw+*, cleanlab: the training batch, as the loss sees it (default: the "
                              "recipe's, 128; digits and --arch mlp 32), which the authors' --batch_size is half of: "
                              "their loader doubles it for these methods, so their default 64 trains with batches of "
                              "128. uc, hmw+uc: the authors' own meaning, the labelled batch (default 64), the warm-up's "
                              "twice that")
    authors.add_argument("--lr", "--learning_rate", type=float, default=None,
                         help="the initial learning rate (default: the recipe's, 0.02, as the authors')")
    authors.add_argument("--gpuid", type=int, default=None, help="the CUDA device N (the same as --device cuda:N)")
    authors.add_argument("--alpha_nmw", type=float, default=100.0, help="HMW's alpha, the AUM term (default: 100)")
    authors.add_argument("--beta_nmw", type=float, default=100.0, help="HMW's beta, the TKUM term (default: 100)")
    authors.add_argument("--top_rate_nmw", type=float, default=0.01, help="HMW's top rate: k = max(int((C-2) r), 1) "
                         "(default: 0.01, k = 1)")
    authors.add_argument("--if_aum", type=flag_bool, default=True, help="1: AUM and TKUM terms; 0: TKUM only (default: 1)")
    authors.add_argument("--if_anneal", type=flag_bool, default=True, help="1: integrate the weights over epochs "
                         "(default: 1)")
    authors.add_argument("--if_spherical", type=flag_bool, default=True, help="1: cosine distances (default: 1)")
    authors.add_argument("--check_loc", default=None, help="the folder that receives the run's files "
                         "(default: outputs/hmw/runs/<dataset>_<mode><r>_<method>_seed<seed>)")
    ours = parser.add_argument_group("this toolkit's flags")
    ours.add_argument("--normalize_logits", type=flag_bool, default=True,
                      help="1: the loss on z/||z|| as the authors; 0: on the raw logits, an ablation (default: 1)")
    ours.add_argument("--augment", default=None,
                      help="the training view: none, shift (a random offset of up to one pixel, zero-filled; for small "
                           "images such as the digits) or crop_flip (CIFAR's random crop with 4 pixels of padding and "
                           "flip at 32 px; at other sides an eighth of the side) (default: the recipe's: crop_flip on "
                           "CIFAR, preact_resnet18 at 32 px and resnet18/50, shift for preact_resnet18 at other sides and "
                           "mlp, none on the digits; uc and hmw+uc need a view)")
    ours.add_argument("--warm_up", type=int, default=None, help="the first epochs, trained without HMW's weights, "
                      "or (uc, hmw+uc) without selection (default: the recipe's, 10; cifar100 30)")
    ours.add_argument("--arch", default=None, help="imagefolder: mlp, preact_resnet18 (the authors' CIFAR network), "
                      "resnet18 or resnet50 (torchvision's ImageNet networks, for photographs) (default: mlp below 32 "
                      "px, preact_resnet18 from 32 px, resnet18 from 64 px)")
    ours.add_argument("--pretrained", nargs="?", const="imagenet", default=None, metavar="PATH",
                      help="imagefolder, resnet18/50: start from torchvision's ImageNet weights (downloaded into torch's "
                           "cache), or from the state dict at PATH; the images are then normalised with ImageNet's "
                           "statistics and the recipe is the fine-tuning one (default: from scratch)")
    ours.add_argument("--image_size", type=int, default=None, help="imagefolder: the side in pixels every image is "
                      "resized to (default: 32)")
    ours.add_argument("--val_fraction", type=float, default=None, help="imagefolder: the share of the images held out "
                      "(stratified, the same split for every seed) for the accuracy columns (default: 0.1)")
    ours.add_argument("--cv_n_folds", type=int, default=5, help="cleanlab: the folds of its out-of-fold probabilities "
                      "(default: 5)")
    ours.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N (default: auto)")
    ours.add_argument("--precision", default="tf32", help="fp32, tf32 or bf16 (default: tf32)")
    ours.add_argument("--deterministic", type=flag_bool, default=False, help="CUDA: deterministic algorithms (default: 0)")
    ours.add_argument("--threads", type=int, default=None, help="CPU threads (default: every core; digits and mlp 1)")
    return parser.parse_args(argv)


def task_of(args, default_mode):
    """The run's setting from --dataset, --noise_mode, --r and --noise_type: `<dataset>/<sym|asym><r>`,
    `<dataset>/none` or `<dataset>/human-<label set>`."""
    mode = args.noise_mode or default_mode
    if mode == "human":
        if args.r is not None:
            raise UserError(f"--r {args.r:g} with --noise_mode human: CIFAR-N's labels bring their own mistakes; "
                            f"leave --r out")
        if args.noise_type is None:
            raise UserError("--noise_mode human needs --noise_type: aggre, worst, random1, random2 or random3 on "
                            "cifar10, noisy on cifar100")
        return f"{args.dataset}/human-{CIFAR_N_SPELLINGS.get(args.noise_type, args.noise_type)}"
    if args.noise_type is not None:
        raise UserError(f"--noise_type {args.noise_type}: CIFAR-N's label set, read with --noise_mode human")
    if mode != "none":
        return f"{args.dataset}/{mode}{AUTHORS_RATE if args.r is None else args.r:g}"
    if args.r is not None:
        raise UserError(f"--r {args.r:g} with --noise_mode none: no label is changed; to inject noise at that rate, "
                        f"give --noise_mode sym or asym")
    return f"{args.dataset}/none"


def run(args):
    """Check the flags, resolve the run once (experiments/noisy_run.py), train (or resume) it; returns no failed
    run (a failure raises)."""
    from code_used_upload.experiments.folders import check_apart, check_own_folder, is_complete
    from code_used_upload.experiments.noisy_cell import run_noisy_cell
    from code_used_upload.experiments.noisy_data import load_images
    from code_used_upload.experiments.noisy_run import HMWOptions, RunOptions, parse_task, resolve_run
    from code_used_upload.models.noisy import IMAGE_FOLDER
    from code_used_upload.training.device import default_threads, resolve_device
    from code_used_upload.training.loop import NonFiniteLossError
    from code_used_upload.training.settings import PRECISIONS, RunSettings

    if args.noise_mode == "" or args.data_path.strip() == "":
        raise UserError(f"--{'noise_mode' if args.noise_mode == '' else 'data_path'} '': give a value, or leave the flag "
                        f"out for its default")
    setting = parse_task(task_of(args, default_mode="none" if args.dataset == IMAGE_FOLDER else "sym"))
    if args.dataset != IMAGE_FOLDER and args.num_class not in (None, DATASET_CLASSES[args.dataset]):
        raise UserError(f"--num_class {args.num_class}: {args.dataset} has {DATASET_CLASSES[args.dataset]} classes")
    if args.precision not in PRECISIONS:
        raise UserError(f"--precision {args.precision}: use one of {', '.join(PRECISIONS)}")
    for name in ("num_epochs", "batch_size", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name} {getattr(args, name)}: must be at least 1")
    device = args.device if args.gpuid is None else f"cuda:{args.gpuid}"
    if args.gpuid is not None and args.device not in ("auto", device):
        raise UserError(f"--gpuid {args.gpuid} and --device {args.device} disagree: give one of them")
    resolve_device(device)
    options = RunOptions(lr=args.lr, milestones=args.milestones, augment=args.augment, cv_n_folds=args.cv_n_folds,
                         warm_up=args.warm_up, arch=args.arch, image_size=args.image_size,
                         val_fraction=args.val_fraction, pretrained=args.pretrained)
    hmw = HMWOptions(alpha=args.alpha_nmw, beta=args.beta_nmw, top_rate=args.top_rate_nmw, if_aum=args.if_aum,
                     if_anneal=args.if_anneal, if_spherical=args.if_spherical, normalize_logits=args.normalize_logits)
    settings = RunSettings(epochs=args.num_epochs, batch_size=args.batch_size, device=device, precision=args.precision,
                           deterministic=args.deterministic)
    noisy_run = resolve_run(setting, args.method, args.seed, options, hmw, settings, args.data_path)
    settings = replace(settings, threads=args.threads or noisy_run.cpu_threads or default_threads())
    folder = Path(args.check_loc or f"outputs/hmw/runs/{setting.name.replace('/', '_')}_{args.method}_seed{args.seed}")
    folder = folder.expanduser()
    check_own_folder(folder, "--check_loc")  # before the data is read: a folder of yours is refused at once
    if args.dataset == IMAGE_FOLDER:
        check_apart(args.data_path, folder, "--check_loc")
    images = load_images(args.dataset, args.data_path, image_size=args.image_size, val_fraction=args.val_fraction,
                         num_class=args.num_class, threads=settings.threads)
    complete = is_complete(folder)
    try:
        summary = run_noisy_cell(images, noisy_run, settings, folder)
    except NonFiniteLossError as error:  # an outcome of the training, said in its line: a rate too high for it
        return [(str(folder), f"{error}; the epochs before are kept beside it, and a lower --lr may train")]
    # the AUROCs there are: none without known mislabelled samples (--noise_mode none)
    aurocs = [f"{name} {summary[key]:.3f}" for name, key in (
        ("the weights", "weight_auroc"), ("AUM to the first drop", "aum_auroc_first_drop"), ("AUM", "aum_auroc"),
        ("cleanlab's scores", "cleanlab_auroc")) if not math.isnan(summary.get(key, math.nan))]
    scores = f"; AUROC of {', of '.join(aurocs)}" if aurocs else ""
    flagged = summary.get("label_issues_flagged")  # absent from a run made before label_issues.csv
    flagged = "" if flagged is None else f"; {flagged} images flagged in label_issues.csv"
    selection = ("" if math.isnan(summary.get("selection_precision", math.nan)) else
                 f"; the last labelled set's precision {summary['selection_precision']:.3f}, "
                 f"recall {summary['selection_recall']:.3f}")
    print(f"{folder}{' holds this run already (the same settings); nothing to do' if complete else ''}: "
          f"last accuracy {summary['last_acc']:.4f}, best {summary['best_acc']:.4f}, "
          f"last-10 mean {summary['last10_acc']:.4f}{scores}{flagged}{selection}")
    return []


def main(argv=None):
    args = parse_args(argv)
    return exit_status(lambda: run(args), "run", "what had finished is kept (a run resumes after its last finished "
                                                 "epoch); rerun the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
