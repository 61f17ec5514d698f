"""The noisy-label experiment: HMW and its baselines on CIFAR-10/100 (or the digits) with synthetic label noise.

A task is a data set with a noise setting, `<dataset>/<mode><rate>` (`cifar10/sym0.5`, `cifar100/asym0.4`,
`digits/sym0` for no noise); its cells are the methods (cce, sce, hmw+cce, hmw+sce) and seeds, under
`<outputfolder>/<dataset>/<mode><rate>/models/<method>/seed<k>/`. A cell is one run of the authors'
`train_main.py` (the same as `train_hmw.py --check_loc <cell folder>`): the seed draws the noise, the
initialisation and the batches; the noisy labels and their mask are kept in the cell (`noise.npz`).

Every epoch `epochs.csv` gets the clean test accuracy, the training loss, the mean weight of the clean and
of the mislabelled samples, and the AUROC of the weights and of AUM at telling them apart; `cell.json` the
last, best and last-10-epoch mean accuracy (fractions), the final AUROCs, the settings and the provenance;
`weights.npz` every training sample's final weight and AUM; `weights.png` their distributions. The
run's checkpoint lies beside the cell (`.<seed folder>.checkpoint.pt`) while it trains, so an interrupted
cell resumes after its last finished epoch and ends as an uninterrupted one.
"""
import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from code_used_upload.data.cifar import load_cifar
from code_used_upload.data.digits import load_digits_split
from code_used_upload.data.noise import noisy_labels
from code_used_upload.errors import UserError
from code_used_upload.evaluation.noisy_labels import group_means, separation_auroc, test_accuracy
from code_used_upload.experiments.folders import CELL_FILE, WEIGHTS_FILE, cell_folder, cell_workspace, provenance
from code_used_upload.models.noisy import build_noisy_model, check_method, noisy_setup
from code_used_upload.reports.noisy import plot_weights, write_noisy_summary
from code_used_upload.training.device import configure_numerics, resolve_device
from code_used_upload.training.loop import seed_everything
from code_used_upload.training.noisy_labels import train_noisy_labels

TASK = re.compile(r"(?P<dataset>[a-z0-9]+)/(?P<mode>sym|asym)(?P<rate>[0-9.]+)")
EPOCHS_FILE = "epochs.csv"
NOISE_FILE = "noise.npz"
SCORES_FILE = "weights.npz"
LAST_EPOCHS = 10  # last10_acc: the mean accuracy of the last ten epochs


@dataclass(frozen=True)
class NoiseSetting:
    dataset: str
    mode: str
    rate: float

    @property
    def name(self):
        return f"{self.dataset}/{self.mode}{self.rate:g}"


def parse_task(task):
    """`cifar10/sym0.5` -> NoiseSetting; a clear error for anything else."""
    match = TASK.fullmatch(task)
    if not match or not 0 <= float(match["rate"]) <= 1:
        raise UserError(f"setting {task!r}: write <dataset>/<sym|asym><rate>, e.g. cifar10/sym0.5 or cifar100/asym0.4")
    noisy_setup(match["dataset"])
    return NoiseSetting(match["dataset"], match["mode"], float(match["rate"]))


def load_images(dataset, data_path, download=True):
    """The data set's training and test images as an ImageData."""
    return load_digits_split() if dataset == "digits" else load_cifar(data_path, dataset, download=download)


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


def run_noisy_cell(data, setting, method, seed, settings, options, final, milestones=None):
    """Train and evaluate one run of `method` on `data` (ImageData) under `setting`, written atomically to
    `final`; returns the numbers of cell.json's summary."""
    check_method(method)
    final = Path(final)
    checkpoint = final.parent / f".{final.name}.checkpoint.pt"
    with cell_workspace(final) as work:
        result = _train_and_write(data, setting, method, seed, settings, options, work, checkpoint, milestones)
    checkpoint.unlink(missing_ok=True)
    return result


def _train_and_write(data, setting, method, seed, settings, options, work, checkpoint, milestones):
    started = time.time()
    device = resolve_device(settings.device)
    configure_numerics(settings.precision, settings.deterministic, settings.threads)
    recipe = noisy_setup(setting.dataset).recipe
    if milestones is not None:
        recipe = replace(recipe, milestones=tuple(milestones))
    epochs = settings.epochs_for(recipe)
    labels, is_noisy = noisy_labels(data.train_labels, data.num_classes, setting.mode, setting.rate, seed)
    seed_everything(seed)
    model = build_noisy_model(setting.dataset, method, data.num_classes, len(labels), epochs, recipe,
                              confidence_penalty=setting.mode == "asym", **asdict(options)).to(device)
    test_images = torch.as_tensor(data.test_images, device=device)

    def on_epoch(epoch, model, margins, train_loss):
        weights = (model.head.integrated_weights(epoch).cpu().numpy() if model.weighted
                   else np.full(len(labels), np.nan))
        clean_weight, noisy_weight = group_means(weights, is_noisy)
        return {"epoch": epoch + 1, "test_acc": test_accuracy(model, test_images, data.test_labels, data.mean, data.std),
                "train_loss": train_loss, "weight_clean": clean_weight, "weight_noisy": noisy_weight,
                "weight_auroc": separation_auroc(weights, is_noisy), "aum_auroc": separation_auroc(margins.aum(), is_noisy)}

    reports, margins = train_noisy_labels(model, data, labels, recipe, settings, seed, device, checkpoint, on_epoch,
                                          description=f"{setting.name}/{method}/seed{seed}")
    history = pd.DataFrame(reports)
    history.to_csv(work / EPOCHS_FILE, index=False)
    np.savez(work / NOISE_FILE, noisy_labels=labels, is_noisy=is_noisy, clean_labels=data.train_labels)
    final_weights = (model.head.integrated_weights(epochs - 1).cpu().numpy() if model.weighted
                     else np.full(len(labels), np.nan, dtype=np.float32))
    aum = margins.aum()
    np.savez(work / SCORES_FILE, weights=final_weights, aum=aum)
    plot_weights(final_weights, aum, is_noisy, work / "weights.png", title=f"{setting.name} {method} seed {seed}")
    torch.save(model.state_dict(), work / WEIGHTS_FILE)
    accuracy = history["test_acc"].to_numpy()
    summary = {"last_acc": float(accuracy[-1]), "best_acc": float(accuracy.max()),
               "last10_acc": float(accuracy[-LAST_EPOCHS:].mean()),
               "weight_auroc": float(history["weight_auroc"].iloc[-1]), "aum_auroc": float(history["aum_auroc"].iloc[-1])}
    record = {"dataset": setting.dataset, "noise_mode": setting.mode, "r": setting.rate, "method": method, "seed": seed,
              **summary, "noisy_fraction": float(is_noisy.mean()), "hmw": asdict(options), "recipe": recipe.to_dict(),
              "settings": asdict(settings), "epochs": epochs, **provenance(device, settings),
              "train_size": len(labels), "test_size": len(data.test_labels),
              "wall_time_s": round(time.time() - started, 3)}
    (work / CELL_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return summary


@dataclass(frozen=True)
class NoisyLabelExperiment:
    """The grid's experiment (experiments/grid.py) of noisy-label runs under `outputfolder`."""
    data_path: str
    outputfolder: str
    options: HMWOptions = field(default_factory=HMWOptions)
    progress: bool = True

    def folder(self, task):
        return Path(self.outputfolder) / parse_task(task).name

    def prepare(self, task, write=True):
        setting = parse_task(task)
        return setting, load_images(setting.dataset, self.data_path, download=write)

    def run_cell(self, data, method, seed, settings):
        setting, images = data
        return run_noisy_cell(images, setting, method, seed, settings, self.options,
                              cell_folder(self.folder(setting.name), method, seed))

    def describe(self, result):
        return f"last acc {result['last_acc']:.4f}  weight AUROC {result['weight_auroc']:.3f}"

    def write_summary(self, models, tasks, figure=True):
        write_noisy_summary(self.outputfolder, models, tasks, figure=figure)

    def write_final_summaries(self, models, tasks):
        write_noisy_summary(self.outputfolder, models, tasks, figure=True)
        return []
