"""One noisy-label run (a resolved NoisyRun, experiments/noisy_run.py) trained, evaluated and written atomically
into its folder (experiments/folders.py): the same whether `train_hmw.py` runs it into its --check_loc or
the grid into `<outputfolder>/<dataset>/<setting>/models/<method>/seed<k>/`.

Every epoch `epochs.csv` gets the clean test accuracy, the training loss, the mean weight of the clean and
of the mislabelled samples, and the AUROC of the weights and of AUM at telling them apart, AUM over the
epochs before the first learning-rate drop (as its authors use it) and over every epoch; `cell.json` the
last, best and last-10-epoch mean accuracy (fractions), the final AUROCs, the resolved run, its identity,
the settings and the provenance (strict JSON: a score that does not exist is null); `weights.npz` every
training sample's final weight and AUMs; `weights.png` their distributions; `label_issues.csv`
(reports/label_issues.py) every training image ranked from the most suspect label down, named by its file
(CIFAR's and the digits' by their training row, as in noise.npz and weights.npz). UniCon's runs record
their selections instead (training/unicon_loop.py).

Before anything trains: the folder must be new, empty or this very run (which is then not run again); a
complete run or a checkpoint of other settings, or a checkpoint written on another device type, is refused
in one line; and a training step that cannot fit the device's memory is refused (training/fits.py). The
run's checkpoints lie beside the folder (`.<name>.*.pt`) while it trains, so an interrupted run resumes
after its last finished epoch and ends as an uninterrupted one.
"""
import functools
import glob
import json
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from code_used_upload.configs.identity import IDENTITY_KEY, refuse_other_settings
from code_used_upload.data.images import training_subset
from code_used_upload.errors import UserError
from code_used_upload.evaluation.noisy_labels import group_means, predict_logits, separation_auroc, test_accuracy
from code_used_upload.experiments.cleanlab_folds import find_label_issues_by_folds
from code_used_upload.experiments.folders import (CELL_FILE, WEIGHTS_FILE, cell_lock, cell_workspace, check_own_folder,
                                                  is_complete, provenance, recorded_identity, write_record)
from code_used_upload.experiments.noisy_data import data_fingerprint, fingerprint, run_labels
from code_used_upload.models.noisy import ARCH_SETUPS, CLEANLAB, build_noisy_model, build_unicon_networks, check_method
from code_used_upload.reports.label_issues import LABEL_ISSUES_FILE, write_label_issues
from code_used_upload.reports.noisy import plot_weights
from code_used_upload.training.device import configure_numerics, resolve_device
from code_used_upload.training.fits import check_step_fits, step_bytes
from code_used_upload.training.loop import seed_everything
from code_used_upload.training.noisy_labels import checkpoint_identity, train_noisy_labels
from code_used_upload.training.unicon_loop import train_unicon

EPOCHS_FILE = "epochs.csv"
NOISE_FILE = "noise.npz"
SCORES_FILE = "weights.npz"
LAST_EPOCHS = 10  # last10_acc: the mean accuracy of the last ten epochs
# UniCon's training step takes at least four batches' worth of images through a network: the mixed batch
# (the labelled rows' two strong views and as many unlabelled rows', int(B / (2 SR)) each with SR <= 1) and
# the contrastive loss's two strong views of the unlabelled rows
UNICON_IMAGES_PER_STEP = 4
# the score a grid's line says beside the accuracy: the first of these a run has
DESCRIBED_SCORES = (("cleanlab AUROC", "cleanlab_auroc"), ("selection precision", "selection_precision"),
                    ("weight AUROC", "weight_auroc"))
SUMMARY_KEYS = ("last_acc", "best_acc", "last10_acc", "weight_auroc", "aum_auroc_first_drop", "aum_auroc",
                "cleanlab_auroc", "flagged", "flag_precision", "flag_recall", "label_issues_flagged",
                "selection_precision", "selection_recall")


def summary_of(record):
    """cell.json's scores: NaN where a score does not exist (null in the file)."""
    return {key: np.nan if record[key] is None else record[key] for key in SUMMARY_KEYS if key in record}


def sidecars(final):
    """The run's own files beside its folder: its checkpoint `.<name>.checkpoint.pt` and cleanlab's folds'
    `.<name>.fold<k>.pt` and `.<name>.fold<k>.checkpoint.pt`; not another run's (`.<name>.v2.checkpoint.pt`
    is run `<name>.v2`'s), nor a file of yours."""
    final = Path(final)
    own = re.compile(rf"\.{re.escape(final.name)}\.(?:checkpoint|fold\d+|fold\d+\.checkpoint)\.pt")
    return sorted(path for path in final.parent.glob(f".{glob.escape(final.name)}.*.pt")
                  if own.fullmatch(path.name) and path.is_file() and not path.is_symlink())


def check_existing(final, wanted, device, elsewhere):
    """True when `final` holds a complete run of the `wanted` identity (nothing to do); refuses (UserError) a
    folder that is not the toolkit's, a run or checkpoint of other settings, and a checkpoint whose batches
    were drawn on another device type; else False."""
    final = Path(final)
    check_own_folder(final, elsewhere)
    if is_complete(final):
        refuse_other_settings(str(final), recorded_identity(final), wanted, elsewhere)
        return True
    for checkpoint in sidecars(final):
        try:
            recorded, written_on = checkpoint_identity(checkpoint)
        except Exception as error:  # not torch's format, or not what the restricted load admits
            raise UserError(f"{checkpoint} is not a checkpoint of this toolkit ({type(error).__name__}); it has the "
                            f"name of this run's checkpoint: move it away, or give {elsewhere} another folder") from None
        refuse_other_settings(str(checkpoint), recorded, wanted, elsewhere)
        if written_on not in (None, device.type):
            raise UserError(f"{checkpoint} was written on {written_on} and this run trains on {device.type}: its "
                            f"batches are drawn by a {written_on} random generator, which {device.type} cannot "
                            f"continue; resume it on {written_on} (--device), or delete {checkpoint} to start over")
    return False


@dataclass(frozen=True)
class Preflight:
    """What a run's checks found: its noisy labels and their mask, its identity, its device, and whether its
    folder holds it complete already."""
    labels: np.ndarray
    is_noisy: np.ndarray
    identity: dict
    device: torch.device
    complete: bool


def preflight(images, run, settings, final, elsewhere, data_sha256=None):
    """Everything that can refuse the resolved `run` on `images` before it trains, each in one line (UserError):
    too few classes for its method, a folder not the toolkit's, a run or checkpoint of other settings or of
    another device type, a training step that cannot fit the device. `elsewhere` names the flag that
    chooses another folder, `data_sha256` the data's fingerprint where it is known already."""
    data = images.data
    check_method(run.method, data.num_classes)
    labels, is_noisy = run_labels(run, data)
    if run.cv_n_folds is not None:
        counts = np.bincount(labels)
        smallest = int(counts[counts > 0].min())
        if run.cv_n_folds > smallest:
            raise UserError(f"--cv_n_folds {run.cv_n_folds}: the smallest class of the training labels has {smallest} "
                            f"images, and each of cleanlab's stratified folds needs one of every class; give "
                            f"--cv_n_folds {smallest} or less")
    wanted = run.identity(settings, data_sha256 or data_fingerprint(data), fingerprint(labels))
    device = resolve_device(settings.device)
    complete = check_existing(final, wanted, device, elsewhere)
    if not complete:
        _check_fits(run, data, device)
    return Preflight(labels, is_noisy, wanted, device, complete)


def run_noisy_cell(images, run, settings, final, elsewhere="--check_loc", data_sha256=None):
    """Train and evaluate the resolved `run` on `images` (an ImageFolderData, as experiments/noisy_data.py
    gives it), written atomically to `final`, after its `preflight`, holding the folder's lock; returns
    the numbers of cell.json's summary (read back when `final` already holds this run). `elsewhere` names the
    flag that chooses another folder."""
    final = Path(final)
    checked = preflight(images, run, settings, final, elsewhere, data_sha256)  # refusals first: nothing written
    with cell_lock(final, elsewhere):
        if checked.complete or check_existing(final, checked.identity, checked.device, elsewhere):  # done meanwhile
            return summary_of(json.loads((final / CELL_FILE).read_text()))
        train_and_write = _train_and_write_unicon if run.unicon else _train_and_write
        data = replace(images.data, **dict(zip(("mean", "std"), run.normalisation(images.data))))
        with cell_workspace(final, elsewhere) as work:
            result = train_and_write(images, data, run, checked, settings, work, final)
        for checkpoint in sidecars(final):
            checkpoint.unlink()
        return result


def _check_fits(run, data, device):
    """Refuse a run whose training step cannot fit the device (training/fits.py), before it trains."""
    batch = min(run.recipe.batch_size, len(data.train_labels))
    per_step = (UNICON_IMAGES_PER_STEP if run.unicon else 1) * batch
    resident = data.train_images.nbytes + data.test_images.nbytes if device.type == "cuda" else 0
    check_step_fits(_step_bytes(run.arch, data.train_images.shape[1:]), run.image_size, per_step, batch, device,
                    resident, f"{run.arch} ({run.method}, batch {batch})")


@functools.lru_cache(maxsize=None)
def _step_bytes(arch, image_shape):
    """training/fits.py's step_bytes of `arch` on images of `image_shape`, counted once per process."""
    return step_bytes(lambda: ARCH_SETUPS[arch].backbone(image_shape), image_shape)


def _start(settings):
    """What every run starts from: the clock, and the numerics its settings ask for."""
    configure_numerics(settings.precision, settings.deterministic, settings.threads)
    return time.time()


def _train_and_write(images, data, run, checked, settings, work, final):
    started = _start(settings)
    labels, is_noisy, wanted, device = checked.labels, checked.is_noisy, checked.identity, checked.device
    recipe = run.recipe
    test_images = torch.as_tensor(data.test_images, device=device)
    cleanlab, flags, rows, trained = {}, {}, np.arange(len(labels)), data
    if run.method == CLEANLAB:
        cleanlab = find_label_issues_by_folds(data, labels, is_noisy, run, settings, device, wanted, final,
                                              build=lambda size: _model(run, data, size, "cce"))
        flags = {"quality": cleanlab.pop("quality"), "issues": cleanlab.pop("issues")}
        rows = np.flatnonzero(~flags["issues"])
        trained = training_subset(data, rows)  # the kept rows: a copy, which the full set never needs
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

    seed_everything(run.seed)
    model = _model(run, data, len(rows)).to(device)
    reports, margins = train_noisy_labels(model, trained, labels[rows], recipe, settings, run.seed, device,
                                          final.parent / f".{final.name}.checkpoint.pt", on_epoch,
                                          description=f"{run.setting.name}/{run.method}/seed{run.seed}",
                                          identity=wanted)
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
    plot_weights(scores["weights"], scores["aum"], is_noisy, work / "weights.png",
                 title=f"{run.setting.name} {run.method} seed {run.seed}")
    torch.save(model.state_dict(), work / WEIGHTS_FILE)
    summary = {**accuracies(history),
               **{key: float(history[key].iloc[-1]) for key in ("weight_auroc", "aum_auroc_first_drop", "aum_auroc")},
               **cleanlab, "label_issues_flagged": int(issues["flagged"].sum())}
    return _write_record(work, run, summary, wanted, is_noisy, device, settings, len(rows), len(data.test_labels),
                         started)


def _model(run, data, train_size, method=None):
    """The run's network with its method's head (`method`: another than the run's, e.g. cleanlab's folds' cce)."""
    return build_noisy_model(run.arch, method or run.trained_method, data.num_classes, train_size, run.epochs,
                             run.recipe.unweighted_epochs, run.sce, run.confidence_penalty,
                             data.train_images.shape[1:], run.pretrained, **asdict(run.hmw) if run.hmw else {})


def accuracies(history):
    """The last, best and last-10-epoch mean test accuracy of a run's epochs.csv."""
    accuracy = history["test_acc"].to_numpy()
    return {"last_acc": float(accuracy[-1]), "best_acc": float(accuracy.max()),
            "last10_acc": float(accuracy[-LAST_EPOCHS:].mean())}


def _write_record(work, run, summary, wanted, is_noisy, device, settings, train_size, test_size, started):
    """cell.json, written last (its presence marks the run complete); returns the summary."""
    record = {**run.record(), **summary, IDENTITY_KEY: wanted, "noisy_fraction": float(is_noisy.mean()),
              "settings": asdict(settings), "epochs": run.epochs, **provenance(device, settings),
              "train_size": train_size, "test_size": test_size, "wall_time_s": round(time.time() - started, 3)}
    write_record(work / CELL_FILE, record)
    return summary


def _train_and_write_unicon(images, data, run, checked, settings, work, final):
    """uc, hmw+uc: the two networks' run (training/unicon_loop.py). Every epoch after the warm-up records
    each selection's threshold, rate and labelled-set size, and the labelled set's precision (its share of
    correct labels) and recall (its share of the correct labels) against the true labels; cell.json the
    accuracies and the last epoch's selection precision and recall (net2's, the later one)."""
    started = _start(settings)
    labels, is_noisy, wanted, device = checked.labels, checked.is_noisy, checked.identity, checked.device
    clean = torch.as_tensor(~is_noisy, device=device)

    def on_epoch(epoch, net1, net2, selections):
        columns = {}
        for selection in selections:
            correct = int(clean[selection.labelled].sum())
            columns[f"net{selection.network}_precision"] = correct / max(len(selection.labelled), 1)
            columns[f"net{selection.network}_recall"] = correct / max(int(clean.sum()), 1)
        return columns

    seed_everything(run.seed)
    nets = build_unicon_networks(run.arch, run.method, data.num_classes, len(labels), run.epochs,
                                 image_shape=data.train_images.shape[1:], pretrained=run.pretrained,
                                 **asdict(run.hmw) if run.hmw else {})
    nets = [net.to(device) for net in nets]
    reports = train_unicon(run.method, *nets, data, labels, run.recipe, settings, run.seed, device,
                           final.parent / f".{final.name}.checkpoint.pt", on_epoch,
                           description=f"{run.setting.name}/{run.method}/seed{run.seed}", identity=wanted)
    history = pd.DataFrame(reports)
    history.to_csv(work / EPOCHS_FILE, index=False)
    np.savez(work / NOISE_FILE, noisy_labels=labels, is_noisy=is_noisy, clean_labels=data.train_labels)
    torch.save({f"net{k + 1}.{key}": value for k, net in enumerate(nets) for key, value in net.state_dict().items()},
               work / WEIGHTS_FILE)
    last = history.iloc[-1]
    summary = {**accuracies(history), "selection_precision": float(last.get("net2_precision", np.nan)),
               "selection_recall": float(last.get("net2_recall", np.nan))}
    return _write_record(work, run, summary, wanted, is_noisy, device, settings, len(labels), len(data.test_labels),
                         started)


def _per_training_sample(values, rows, size):
    """Scores of the trained rows spread over every training sample, NaN for the rows not trained on."""
    full = np.full(size, np.nan, dtype=np.asarray(values).dtype if np.asarray(values).dtype.kind == "f" else np.float64)
    full[rows] = values
    return full
