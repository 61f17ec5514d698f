"""The noisy-label experiment: HMW and its baselines on CIFAR-10/100 (or the digits) with synthetic label noise.

A task is a data set with a noise setting, `<dataset>/<mode><rate>` (`cifar10/sym0.5`, `cifar100/asym0.4`,
`digits/sym0` for no noise) or `<dataset>/none` (the labels as they are: a user's own images,
`imagefolder/none`), named in one way whatever way it was written (`sym0.40` is `sym0.4`); its
cells are the methods and seeds, under `<outputfolder>/<dataset>/<mode><rate>/models/<method>/seed<k>/`. A
cell is one run of the authors' `train_main.py` (the same as `train_hmw.py --check_loc <cell folder>`): the
seed draws the noise, the initialisation and the batches; the noisy labels and their mask are kept in the
cell (`noise.npz`).

The methods: cce, sce, hmw+cce, hmw+sce (models/noisy.py) train one network. `cleanlab` is what most
people who suspect label noise do: K-fold out-of-fold predicted probabilities from the cce network and
recipe on the noisy labels, `cleanlab.filter.find_label_issues` on them, then the cce network trained on
the samples it keeps; its cell also says how well cleanlab's label quality scores and its flagged set
find the mislabelled samples.

`imagefolder` is a user's own images (data/imagefolder.py: one subfolder per class, resized to
`image_size`, `val_fraction` of them held out by a split fixed for every seed, as the digits' split),
learnt by the network the run's `arch` names (models/noisy.py: the CIFAR PreAct-ResNet18 or the digits'
MLP, each with its recipe).

Every epoch `epochs.csv` gets the clean test accuracy, the training loss, the mean weight of the clean and
of the mislabelled samples, and the AUROC of the weights and of AUM at telling them apart, AUM over the
epochs before the first learning-rate drop (as its authors use it) and over every epoch; `cell.json` the
last, best and last-10-epoch mean accuracy (fractions), the final AUROCs, the run's identity (below),
the settings and the provenance; `weights.npz` every training sample's final weight and AUMs;
`weights.png` their distributions; `label_issues.csv` (reports/label_issues.py) every training image
ranked from the most suspect label down, named by its file (CIFAR's and the digits' by their training row,
as in noise.npz and weights.npz). The run's checkpoints lie beside the cell (`.<seed folder>.*.pt`)
while it trains, so an interrupted cell resumes after its last finished epoch and ends as an
uninterrupted one.

A run's identity (configs/identity.py): its table part is what a results table's runs share (the epochs,
batch, learning rate, milestones and view asked for, the precision, the HMW options, cleanlab's folds; the
warm-up where one is asked for; for a user's images the arch, image size and held-out fraction);
its cell part the noise setting, method and seed with the recipe they resolve to and the fingerprints
(SHA-256) of the data and of the noisy labels. A complete run or a checkpoint of other settings is
refused before anything trains or is written.
"""
import functools
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from code_used_upload.configs.identity import IDENTITY_KEY, identity, refuse_other_settings
from code_used_upload.data.cifar import CIFAR10_NAMES, load_cifar
from code_used_upload.data.digits import load_digits_split
from code_used_upload.data.imagefolder import ImageFolderData, load_image_folder
from code_used_upload.data.noise import noisy_labels
from code_used_upload.errors import UserError
from code_used_upload.evaluation.noisy_labels import group_means, predict_logits, separation_auroc, test_accuracy
from code_used_upload.experiments.folders import (CELL_FILE, WEIGHTS_FILE, cell_folder, cell_workspace, is_complete,
                                                  provenance, recorded_identity)
from code_used_upload.models.noisy import (CLEANLAB, IMAGE_FOLDER, UNICON, UNICON_STRONG_VIEWS,
                                            build_noisy_model, build_unicon_networks, check_dataset, check_method,
                                            noisy_setup)
from code_used_upload.reports.label_issues import LABEL_ISSUES_FILE, write_label_issues
from code_used_upload.reports.noisy import plot_weights, write_noisy_summary
from code_used_upload.training.augment import VIEWS
from code_used_upload.training.device import configure_numerics, resolve_device
from code_used_upload.training.loop import seed_everything
from code_used_upload.training.noisy_labels import checkpoint_identity, save_atomically, train_noisy_labels
from code_used_upload.training.unicon_loop import UniConRecipe, train_unicon

TASK = re.compile(r"(?P<dataset>[a-z0-9]+)/(?P<mode>sym|asym|none)(?P<rate>[0-9.]*)")
EPOCHS_FILE = "epochs.csv"
NOISE_FILE = "noise.npz"
SCORES_FILE = "weights.npz"
LAST_EPOCHS = 10  # last10_acc: the mean accuracy of the last ten epochs
VIEW_NAMES = {"none" if name is None else name: name for name in VIEWS}  # --augment's words -> the recipe's views
CLASS_NAMES = {"cifar10": CIFAR10_NAMES}  # label_issues.csv's names of the classes (else their numbers)
IMAGE_SIZE = 32      # imagefolder: the side, in pixels, every image is resized to
VAL_FRACTION = 0.1   # imagefolder: the share of the images held out, stratified, for the accuracy columns
SPLIT_SEED = 0       # imagefolder: one held-out split for every seed, so that seeds are compared on the same images


@dataclass(frozen=True)
class NoiseSetting:
    dataset: str
    mode: str
    rate: float

    @property
    def name(self):
        """The one spelling of the setting: folders, tables and identities use it."""
        return f"{self.dataset}/none" if self.mode == "none" else f"{self.dataset}/{self.mode}{self.rate:g}"


def parse_task(task):
    """`cifar10/sym0.5` or `imagefolder/none` (rate 0) -> NoiseSetting; a clear error for anything else."""
    match = TASK.fullmatch(task)
    rate = match["rate"] if match else ""
    if not match or (rate != "" if match["mode"] == "none" else
                     not re.fullmatch(r"\d+(\.\d*)?|\.\d+", rate) or not 0 <= float(rate) <= 1):
        raise UserError(f"setting {task!r}: write <dataset>/<sym|asym><rate> or <dataset>/none, e.g. cifar10/sym0.5, "
                        f"cifar100/asym0.4 or {IMAGE_FOLDER}/none")
    check_dataset(match["dataset"])
    return NoiseSetting(match["dataset"], match["mode"], float(rate or 0))


def setting_name(task):
    """The one spelling of a setting however it was written: `digits/sym0.40` -> `digits/sym0.4`."""
    return parse_task(task).name


@functools.lru_cache(maxsize=2)
def load_images(dataset, data_path, download=True, image_size=IMAGE_SIZE, val_fraction=VAL_FRACTION, num_class=None):
    """The data set as an ImageFolderData: its images (an ImageData), the names of its training rows and
    of its classes (label_issues.csv's), read once per process (a grid checks its complete runs'
    identities and trains from the same copy). `image_size`, `val_fraction` and `num_class` (a check of
    the class folders) are an image folder's; CIFAR's and the digits' rows are named by their index."""
    if dataset == IMAGE_FOLDER:
        return load_image_folder(data_path, image_size, val_fraction, SPLIT_SEED, num_class)
    data = load_digits_split() if dataset == "digits" else load_cifar(data_path, dataset, download=download)
    return ImageFolderData(data, [str(row) for row in range(len(data.train_labels))], CLASS_NAMES.get(dataset))


def fingerprint(*arrays):
    """SHA-256 over the arrays' dtypes, shapes and bytes: the same data gives the same text on any machine."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def data_fingerprint(data):
    return fingerprint(data.train_images, data.train_labels, data.test_images, data.test_labels)


@functools.lru_cache(maxsize=2)
def loaded_fingerprint(dataset, data_path, image_size=IMAGE_SIZE, val_fraction=VAL_FRACTION):
    """The fingerprint of the images `load_images` reads, hashed once per process."""
    return data_fingerprint(load_images(dataset, data_path, image_size=image_size, val_fraction=val_fraction).data)


@dataclass(frozen=True)
class HMWOptions:
    """The HMW head's settings (the authors' --alpha_nmw, --beta_nmw, --top_rate_nmw, --if_aum, --if_anneal,
    --if_spherical) and the ablation of its normalised training logits."""
    alpha: float = 100.0
    beta: float = 100.0
    top_rate: float = 0.01
    if_aum: bool = True
    if_anneal: bool = True
    if_spherical: bool = True
    normalize_logits: bool = True


@dataclass(frozen=True)
class RunOptions:
    """What a run asks for beyond the HMW head: the recipe's learning rate, milestones, view and unweighted
    epochs (None: the data set's recipe), cleanlab's number of folds, and for a user's images the network
    and how the folder is read."""
    lr: float = None
    milestones: tuple = None
    augment: str = None       # none, shift or crop_flip (training/augment.py)
    cv_n_folds: int = 5       # cleanlab: the K of its K-fold out-of-fold probabilities
    warm_up: int = None       # the recipe's unweighted epochs (HMW's weights unused), --warm_up
    arch: str = None          # imagefolder: preact_resnet18 or mlp (None: by the image size, models/noisy.py)
    image_size: int = IMAGE_SIZE        # imagefolder: the side every image is resized to
    val_fraction: float = VAL_FRACTION  # imagefolder: the share held out for the accuracy columns

    def __post_init__(self):
        if self.augment is not None and self.augment not in VIEW_NAMES:
            raise UserError(f"--augment {self.augment}: use one of {', '.join(VIEW_NAMES)}")
        if self.cv_n_folds < 2:
            raise UserError(f"--cv_n_folds {self.cv_n_folds}: cleanlab's out-of-fold probabilities need at least 2 folds")
        if self.lr is not None and not self.lr > 0:
            raise UserError(f"--lr {self.lr}: must be positive")
        if self.warm_up is not None and self.warm_up < 0:
            raise UserError(f"--warm_up {self.warm_up}: the number of unweighted epochs, 0 or more")


def run_setup(setting, options):
    """The backbone, recipe and SCE's (a, b) that train on the setting's data set (models/noisy.py)."""
    return noisy_setup(setting.dataset, options.arch, options.image_size)


def run_recipe(setting, settings, options, method=None):
    """The data set's recipe (UniCon's for uc, hmw+uc) with the run's overrides, its epochs and batch resolved."""
    setup = run_setup(setting, options)
    recipe = setup.unicon_recipe if method in UNICON else setup.recipe
    overrides = {"max_lr": options.lr, "milestones": options.milestones and tuple(options.milestones),
                 "augment": VIEW_NAMES.get(options.augment, "recipe"), "unweighted_epochs": options.warm_up}
    recipe = replace(recipe, **{key: value for key, value in overrides.items() if value not in (None, "recipe")})
    return replace(recipe, epochs=settings.epochs_for(recipe), batch_size=settings.batch_for(recipe))


def unicon_recipe(setting, settings, options):
    """How `uc` and `hmw+uc` train (training/unicon_loop.py): the data set's UniCon recipe with the run's
    overrides, its warm-up the recipe's unweighted epochs (the authors': 10 on CIFAR-10, 30 on CIFAR-100), the
    authors' 0..num_epochs (one epoch more than asked), the labelled batch the recipe's (the authors'
    --batch_size, 64 on CIFAR) and the warm-up's twice that. The weak view is the recipe's, the one-pixel
    shift where a run asks for none: UniCon needs views."""
    recipe = run_recipe(setting, settings, options, "uc")
    weak = recipe.augment or "shift"
    batch = recipe.batch_size
    return UniConRecipe(epochs=recipe.epochs + 1, warm_up=recipe.unweighted_epochs, lr=recipe.max_lr,
                        momentum=recipe.momentum, weight_decay=recipe.weight_decay, milestones=tuple(recipe.milestones),
                        gamma=recipe.gamma, batch_size=batch, warmup_batch_size=2 * batch, weak_view=weak,
                        strong_view=UNICON_STRONG_VIEWS[weak], confidence_penalty=setting.mode == "asym")


# the RunOptions every identity records; those added since (the warm-up; arch, image_size and val_fraction of
# a user's images) only where they apply, so that a run made before them keeps its identity
RECORDED_OPTIONS = ("lr", "milestones", "augment", "cv_n_folds")


def run_identity(data, setting, method, seed, settings, hmw_options, options, data_sha256=None):
    """What makes the run's numbers, as configs/identity.py records and compares it (`data_sha256`: the
    data's fingerprint where it is known already)."""
    asked = {key: "recipe" if getattr(options, key) is None else getattr(options, key) for key in RECORDED_OPTIONS}
    table = {"epochs": settings.epochs or "recipe", "batch_size": settings.batch_size or "recipe",
             "precision": settings.precision, "hmw": asdict(hmw_options), **asked}
    if options.warm_up is not None:
        table["warm_up"] = options.warm_up
    if setting.dataset == IMAGE_FOLDER:
        table.update(arch=run_setup(setting, options).arch, image_size=options.image_size,
                     val_fraction=options.val_fraction)
    labels, _ = noisy_labels(data.train_labels, data.num_classes, setting.mode, setting.rate, seed)
    cell = {"dataset": setting.dataset, "noise_mode": setting.mode, "r": setting.rate, "method": method, "seed": seed,
            "recipe": (asdict(unicon_recipe(setting, settings, options)) if method in UNICON
                       else run_recipe(setting, settings, options).to_dict()),
            "data_sha256": data_sha256 or data_fingerprint(data),
            "noise_sha256": fingerprint(labels)}
    return identity(table, cell)


def sidecars(final):
    """The run's checkpoints beside its folder (`.<name>.checkpoint.pt`, cleanlab's `.<name>.fold<k>*.pt`)."""
    final = Path(final)
    return sorted(final.parent.glob(f".{final.name}.*.pt"))


def check_existing(final, wanted, elsewhere):
    """True when `final` holds a complete run of the `wanted` identity (nothing to do); raises
    OtherSettingsError when it, or a checkpoint beside it, was made with other settings; else False."""
    final = Path(final)
    if is_complete(final):
        refuse_other_settings(str(final), recorded_identity(final), wanted, elsewhere)
        return True
    for checkpoint in sidecars(final):
        refuse_other_settings(str(checkpoint), checkpoint_identity(checkpoint), wanted, elsewhere)
    return False


def run_noisy_cell(images, setting, method, seed, settings, hmw_options, options, final, elsewhere="--check_loc",
                   data_sha256=None):
    """Train and evaluate one run of `method` on `images` (an ImageFolderData, as `load_images` gives it)
    under `setting`, written atomically to `final`; returns the numbers of cell.json's summary (read back
    when `final` already holds this run)."""
    final, data = Path(final), images.data
    check_method(method, data.num_classes)
    wanted = run_identity(data, setting, method, seed, settings, hmw_options, options, data_sha256)
    if run_recipe(setting, settings, options, method).augment == "crop_flip" and data.train_images.shape[-2:] != (32, 32):
        raise UserError(f"--augment crop_flip is CIFAR's view of 32 x 32 images; {data.name}'s are "
                        f"{'x'.join(map(str, data.train_images.shape[-2:]))}: use --augment shift or none")
    if check_existing(final, wanted, elsewhere):
        return summary_of(json.loads((final / CELL_FILE).read_text()))
    train_and_write = _train_and_write_unicon if method in UNICON else _train_and_write
    with cell_workspace(final) as work:
        result = train_and_write(images, setting, method, seed, settings, hmw_options, options, wanted, work, final)
    for checkpoint in sidecars(final):
        checkpoint.unlink()
    return result


# the score a grid's line says beside the accuracy: the first of these a run has
DESCRIBED_SCORES = (("cleanlab AUROC", "cleanlab_auroc"), ("selection precision", "selection_precision"),
                    ("weight AUROC", "weight_auroc"))
SUMMARY_KEYS = ("last_acc", "best_acc", "last10_acc", "weight_auroc", "aum_auroc_first_drop", "aum_auroc",
                "cleanlab_auroc", "flagged", "flag_precision", "flag_recall", "label_issues_flagged",
                "selection_precision", "selection_recall")


def summary_of(record):
    return {key: record[key] for key in SUMMARY_KEYS if key in record}


def subset(data, rows):
    """The ImageData of the training rows `rows` (the test set and normalisation unchanged)."""
    return replace(data, train_images=data.train_images[rows], train_labels=data.train_labels[rows])


def _start(images, setting, seed, settings):
    """What every run starts from: the clock, the data, the device with its numerics, the noisy labels."""
    started, data = time.time(), images.data
    device = resolve_device(settings.device)
    configure_numerics(settings.precision, settings.deterministic, settings.threads)
    labels, is_noisy = noisy_labels(data.train_labels, data.num_classes, setting.mode, setting.rate, seed)
    return started, data, device, labels, is_noisy


def _train_and_write(images, setting, method, seed, settings, hmw_options, options, wanted, work, final):
    started, data, device, labels, is_noisy = _start(images, setting, seed, settings)
    recipe = run_recipe(setting, settings, options)
    test_images = torch.as_tensor(data.test_images, device=device)
    cleanlab, flags = {}, {}
    rows = np.arange(len(labels))
    if method == CLEANLAB:
        cleanlab = _find_label_issues(data, labels, is_noisy, setting, recipe, settings, seed, device, options, wanted,
                                      final)
        flags = {"quality": cleanlab.pop("quality"), "issues": cleanlab.pop("issues")}
        rows = np.flatnonzero(~flags["issues"])
    kept_noisy = is_noisy[rows]

    def on_epoch(epoch, model, margins, train_loss):
        weights = (model.head.integrated_weights(epoch).cpu().numpy() if model.weighted
                   else np.full(len(rows), np.nan))
        clean_weight, noisy_weight = group_means(weights, kept_noisy)
        return {"epoch": epoch + 1, "test_acc": test_accuracy(model, test_images, data.test_labels, data.mean, data.std),
                "train_loss": train_loss, "weight_clean": clean_weight, "weight_noisy": noisy_weight,
                "weight_auroc": separation_auroc(weights, kept_noisy),
                "aum_auroc_first_drop": separation_auroc(margins.aum_first_drop(), kept_noisy),
                "aum_auroc": separation_auroc(margins.aum(), kept_noisy)}

    trained = "cce" if method == CLEANLAB else method
    seed_everything(seed)
    model = build_noisy_model(setting.dataset, trained, data.num_classes, len(rows), recipe.epochs, recipe,
                              confidence_penalty=setting.mode == "asym", image_shape=data.train_images.shape[1:],
                              arch=options.arch, **asdict(hmw_options))
    model = model.to(device)
    reports, margins = train_noisy_labels(model, subset(data, rows), labels[rows], recipe, settings, seed, device,
                                          final.parent / f".{final.name}.checkpoint.pt", on_epoch,
                                          description=f"{setting.name}/{method}/seed{seed}", identity=wanted)
    history = pd.DataFrame(reports)
    history.to_csv(work / EPOCHS_FILE, index=False)
    np.savez(work / NOISE_FILE, noisy_labels=labels, is_noisy=is_noisy, clean_labels=data.train_labels)
    scores = {"weights": (model.head.integrated_weights(recipe.epochs - 1).cpu().numpy() if model.weighted
                          else np.full(len(rows), np.nan, dtype=np.float32)),
              "aum": margins.aum(), "aum_first_drop": margins.aum_first_drop()}
    scores = {name: _per_training_sample(values, rows, len(labels)) for name, values in scores.items()}
    np.savez(work / SCORES_FILE, **scores, **({"cleanlab_quality": flags["quality"]} if flags else {}))
    predicted = predict_logits(model, torch.as_tensor(data.train_images, device=device), data.mean, data.std)
    issues = write_label_issues(work / LABEL_ISSUES_FILE, images.train_paths, labels, predicted.argmax(dim=1).cpu(),
                                scores["weights"], scores["aum"], images.class_names, **flags)
    plot_weights(scores["weights"], scores["aum"], is_noisy, work / "weights.png", title=f"{setting.name} {method} seed {seed}")
    torch.save(model.state_dict(), work / WEIGHTS_FILE)
    summary = {**accuracies(history),
               **{key: float(history[key].iloc[-1]) for key in ("weight_auroc", "aum_auroc_first_drop", "aum_auroc")},
               **cleanlab, "label_issues_flagged": int(issues["flagged"].sum())}
    return _write_record(work, setting, method, seed, summary, wanted, is_noisy, hmw_options, options, recipe.to_dict(),
                         recipe.epochs, device, settings, len(rows), len(data.test_labels), started)


def accuracies(history):
    """The last, best and last-10-epoch mean test accuracy of a run's epochs.csv."""
    accuracy = history["test_acc"].to_numpy()
    return {"last_acc": float(accuracy[-1]), "best_acc": float(accuracy.max()),
            "last10_acc": float(accuracy[-LAST_EPOCHS:].mean())}


def _write_record(work, setting, method, seed, summary, wanted, is_noisy, hmw_options, options, recipe, epochs, device,
                  settings, train_size, test_size, started):
    """cell.json, written last (its presence marks the run complete); returns the summary."""
    record = {"dataset": setting.dataset, "noise_mode": setting.mode, "r": setting.rate, "method": method, "seed": seed,
              **summary, IDENTITY_KEY: wanted, "noisy_fraction": float(is_noisy.mean()), "hmw": asdict(hmw_options),
              "arch": run_setup(setting, options).arch, "recipe": recipe, "settings": asdict(settings),
              "epochs": epochs, **provenance(device, settings), "train_size": train_size, "test_size": test_size,
              "wall_time_s": round(time.time() - started, 3)}
    (work / CELL_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return summary


def _train_and_write_unicon(images, setting, method, seed, settings, hmw_options, options, wanted, work, final):
    """uc, hmw+uc: the two networks' run (training/unicon_loop.py). Every epoch after the warm-up records
    each selection's threshold, rate and labelled-set size, and the labelled set's precision (its share of
    correct labels) and recall (its share of the correct labels) against the true labels; cell.json the
    accuracies and the last epoch's selection precision and recall (net2's, the later one)."""
    started, data, device, labels, is_noisy = _start(images, setting, seed, settings)
    recipe = unicon_recipe(setting, settings, options)
    clean = torch.as_tensor(~is_noisy, device=device)

    def on_epoch(epoch, net1, net2, selections):
        columns = {}
        for selection in selections:
            correct = int(clean[selection.labelled].sum())
            columns[f"net{selection.network}_precision"] = correct / max(len(selection.labelled), 1)
            columns[f"net{selection.network}_recall"] = correct / max(int(clean.sum()), 1)
        return columns

    seed_everything(seed)
    nets = build_unicon_networks(setting.dataset, method, data.num_classes, len(labels), recipe.epochs,
                                 image_shape=data.train_images.shape[1:], arch=options.arch, **asdict(hmw_options))
    nets = [net.to(device) for net in nets]
    reports = train_unicon(method, *nets, data, labels, recipe, settings, seed, device,
                           final.parent / f".{final.name}.checkpoint.pt", on_epoch,
                           description=f"{setting.name}/{method}/seed{seed}", identity=wanted)
    history = pd.DataFrame(reports)
    history.to_csv(work / EPOCHS_FILE, index=False)
    np.savez(work / NOISE_FILE, noisy_labels=labels, is_noisy=is_noisy, clean_labels=data.train_labels)
    torch.save({f"net{k + 1}.{key}": value for k, net in enumerate(nets) for key, value in net.state_dict().items()},
               work / WEIGHTS_FILE)
    last = history.iloc[-1]
    summary = {**accuracies(history), "selection_precision": float(last.get("net2_precision", np.nan)),
               "selection_recall": float(last.get("net2_recall", np.nan))}
    return _write_record(work, setting, method, seed, summary, wanted, is_noisy, hmw_options, options, asdict(recipe),
                         recipe.epochs, device, settings, len(labels), len(data.test_labels), started)


def _per_training_sample(values, rows, size):
    """Scores of the trained rows spread over every training sample, NaN for the rows not trained on."""
    full = np.full(size, np.nan, dtype=np.asarray(values).dtype if np.asarray(values).dtype.kind == "f" else np.float64)
    full[rows] = values
    return full


def _find_label_issues(data, labels, is_noisy, setting, recipe, settings, seed, device, options, wanted, final):
    """cleanlab as its users run it: out-of-fold predicted probabilities of the cce network trained on K - 1
    folds (stratified, seeded), then `find_label_issues` (its default, prune by noise rate) and
    `get_label_quality_scores` (self-confidence). Each finished fold's probabilities are kept beside the
    cell (`.<name>.fold<k>.pt`), so an interrupted run resumes after its last finished fold."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=options.cv_n_folds, shuffle=True, random_state=seed)
    probabilities = np.zeros((len(labels), data.num_classes), dtype=np.float32)
    for fold, (train_rows, held_out) in enumerate(folds.split(np.zeros(len(labels)), labels)):
        done = final.parent / f".{final.name}.fold{fold}.pt"
        if not done.is_file():
            seed_everything(seed)
            model = build_noisy_model(setting.dataset, "cce", data.num_classes, len(train_rows), recipe.epochs, recipe,
                                      confidence_penalty=setting.mode == "asym",
                                      image_shape=data.train_images.shape[1:], arch=options.arch).to(device)
            train_noisy_labels(model, subset(data, train_rows), labels[train_rows], recipe, settings, seed, device,
                               final.parent / f".{final.name}.fold{fold}.checkpoint.pt",
                               description=f"{setting.name}/cleanlab fold {fold + 1}/{folds.n_splits}", identity=wanted)
            held_images = torch.as_tensor(data.train_images[held_out], device=device)
            logits = predict_logits(model, held_images, data.mean, data.std)
            save_atomically({"probabilities": torch.softmax(logits, dim=1).cpu(), "identity": wanted}, done)
            (final.parent / f".{final.name}.fold{fold}.checkpoint.pt").unlink(missing_ok=True)
        probabilities[held_out] = torch.load(done, weights_only=True)["probabilities"].numpy()
    issues = find_label_issues(labels, probabilities)
    quality = get_label_quality_scores(labels, probabilities)
    found = issues & is_noisy
    return {"issues": issues, "quality": quality, "cleanlab_auroc": separation_auroc(quality, is_noisy),
            "flagged": int(issues.sum()),
            "flag_precision": float(found.sum() / issues.sum()) if issues.any() else float("nan"),
            "flag_recall": float(found.sum() / is_noisy.sum()) if is_noisy.any() else float("nan")}


@dataclass(frozen=True)
class NoisyLabelExperiment:
    """The grid's experiment (experiments/grid.py) of noisy-label runs under `outputfolder`."""
    data_path: str
    outputfolder: str
    options: HMWOptions = field(default_factory=HMWOptions)
    run_options: RunOptions = field(default_factory=RunOptions)
    progress: bool = True

    def folder(self, task):
        return Path(self.outputfolder) / setting_name(task)

    def identity(self, task, method, seed, settings):
        setting = parse_task(task)
        return run_identity(self.images(setting).data, setting, method, seed, settings, self.options, self.run_options,
                            self.fingerprint(setting))

    def prepare(self, task, write=True):
        setting = parse_task(task)
        return setting, self.images(setting, download=write)

    def run_cell(self, data, method, seed, settings):
        setting, images = data
        return run_noisy_cell(images, setting, method, seed, settings, self.options, self.run_options,
                              cell_folder(self.folder(setting.name), method, seed), elsewhere="--outputfolder",
                              data_sha256=self.fingerprint(setting))

    def images(self, setting, download=True):
        return load_images(setting.dataset, self.data_path, download, self.run_options.image_size,
                           self.run_options.val_fraction)

    def fingerprint(self, setting):
        return loaded_fingerprint(setting.dataset, self.data_path, self.run_options.image_size,
                                  self.run_options.val_fraction)

    def describe(self, result):
        name, key = next((name, key) for name, key in DESCRIBED_SCORES if key in result)
        return f"last acc {result['last_acc']:.4f}  {name} {result[key]:.3f}"

    def write_summary(self, models, tasks, figure=True):
        write_noisy_summary(self.outputfolder, models, tasks, figure=figure)

    def write_final_summaries(self, models, tasks):
        write_noisy_summary(self.outputfolder, models, tasks, figure=True)
        return []
