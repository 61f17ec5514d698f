"""The paired effect of LDM per task and backbone, with the paper's claim beside it, from the cell folders.

`write_ldm_effect(outputfolder, models, tasks, dataset)` reads only what the grid leaves on disk
(complete cells' `y_test_pred.npy`, the experiment's `data/` and `test_bootstrap_ids.npy`; no PTB-XL
or ICBEB data) and writes, for the requested tasks of the run's dataset and every task of the other
dataset (tables.covered_experiments; ICBEB 2018's one task is named `ICBEB 2018`):
- `<outputfolder>/ldm_effect.csv`: one row per (task, backbone) with both `<b>` and `<b>_ldm`
  complete for at least one common seed; columns task, backbone, seeds (the common seeds,
  space-separated, e.g. `0 1 2`), delta, delta_std, lower, upper, p_not_better, verdict,
  paper_delta (empty where the paper has no value); the statistics are `evaluation.paired`'s;
- `<outputfolder>/ldm_effect.md`: the same as a readable table, what it means, the seeds left out;
- `<outputfolder>/ldm_effect.png`: a forest plot, a panel per task and a row per backbone;
- per covered task whose experiment folder exists, `<exp>/ldm_per_label.csv` (label,
  train_positives, backbone, baseline_auc, ldm_auc, delta; AUCs averaged over the common seeds)
  and `<exp>/ldm_per_label.png` (delta against training prevalence).
A seed finished by only one model of a pair cannot be paired, so it is left out, listed in the
md and returned. Every file is a function of the folders alone: rerunning gives the same bytes.
"""
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from code_used_upload.configs.tasks import DATASET_EXPERIMENTS, TASK_COLUMNS
from code_used_upload.errors import UserError
from code_used_upload.evaluation.paired import paired_delta
from code_used_upload.models import model_row, split_model_name
from code_used_upload.reports.tables import (SEED_FOLDER, _parse_cell, covered_experiments, experiment_label,
                                             in_order, read_paper_results, table_models)

EFFECT_COLUMNS = ["task", "backbone", "seeds", "delta", "delta_std", "lower", "upper", "p_not_better", "verdict",
                  "paper_delta"]
PER_LABEL_COLUMNS = ["label", "train_positives", "backbone", "baseline_auc", "ldm_auc", "delta"]
PREDICTION_FILE = "y_test_pred.npy"
CELL_FILE = "cell.json"
PNG_METADATA = {"Software": None}  # no matplotlib version in the PNG, which holds no timestamp either


class LeftOutSeed(NamedTuple):
    """A seed that only one model of a pair finished, so it has no partner to be compared with."""

    task: str
    model: str
    seed: int
    partner: str

    def __str__(self):
        return f"{self.task}: {self.model} seed {self.seed} (no {self.partner} seed {self.seed})"


def complete_seeds(model_folder):
    """The seeds with a complete cell (`seed<k>/` holding cell.json and the test predictions), sorted.

    The grid builds a cell in a hidden `.seed<k>.tmp-*` folder and renames it when done, so the name
    pattern alone excludes unfinished cells."""
    model_folder = Path(model_folder)
    if not model_folder.is_dir():
        return []
    return sorted(int(match.group(1)) for folder in model_folder.iterdir()
                  if (match := SEED_FOLDER.fullmatch(folder.name))
                  and (folder / CELL_FILE).is_file() and (folder / PREDICTION_FILE).is_file())


def paper_delta(paper, baseline, ldm, task):
    """The paper's LDM row minus its baseline row in the task's column, to its 3 printed decimals; NaN if absent."""
    row, ldm_row, column = model_row(baseline), model_row(ldm), TASK_COLUMNS.get(task)
    if paper is None or column not in paper.columns or not {row, ldm_row} <= set(paper.index):
        return np.nan
    baseline_cell, ldm_cell = _parse_cell(paper.loc[row, column]), _parse_cell(paper.loc[ldm_row, column])
    return round(ldm_cell[0] - baseline_cell[0], 3) if baseline_cell and ldm_cell else np.nan


def requested_pairs(models):
    """(baseline, LDM variant) model names of every backbone requested with both, in table order."""
    variants = {split_model_name(name): name for name in models}
    return [(name, variants[(name, True)]) for name in in_order(models, table_models())
            if split_model_name(name) == (name, False) and (name, True) in variants]


def _required(path, what):
    """A file that the experiment's preparation writes, or a UserError saying that it is missing."""
    if not path.is_file():
        raise UserError(f"{path} ({what}) is missing; the experiment folder is incomplete: rerun its preparation")
    return path


def _load_predictions(model_folder, seeds, shape):
    """Each seed's test predictions, checked against the labels' shape so that an error names the file."""
    predictions = []
    for seed in seeds:
        path = model_folder / f"seed{seed}" / PREDICTION_FILE
        prediction = np.load(path)
        if prediction.shape != shape:
            raise UserError(f"{path} has shape {prediction.shape}, the test labels {shape}")
        predictions.append(prediction)
    return predictions


class ExperimentData(NamedTuple):
    """What the comparison needs from an experiment folder: labels, resamples, label names."""

    y_train: np.ndarray
    y_test: np.ndarray
    bootstrap_ids: np.ndarray
    classes: list

    @classmethod
    def load(cls, experiment_folder):
        data = experiment_folder / "data"
        return cls(np.load(_required(data / "y_train.npy", "training labels")),
                   np.load(_required(data / "y_test.npy", "test labels")),
                   np.load(_required(experiment_folder / "test_bootstrap_ids.npy", "test resamples")),
                   _required(data / "classes.txt", "label names").read_text().splitlines())


def _pair_seeds(models_folder, task, baseline, ldm):
    """The seeds both models finished, and a LeftOutSeed for each seed only one of them finished."""
    seeds = {model: set(complete_seeds(models_folder / model)) for model in (baseline, ldm)}
    left_out = [LeftOutSeed(task, model, seed, partner)
                for model, partner in ((baseline, ldm), (ldm, baseline))
                for seed in sorted(seeds[model] - seeds[partner])]
    return sorted(seeds[baseline] & seeds[ldm]), left_out


def _pair_effect(models_folder, data, baseline, ldm, seeds):
    """`paired_delta` of one backbone over its common seeds."""
    shape = data.y_test.shape
    return paired_delta(data.y_test, _load_predictions(models_folder / baseline, seeds, shape),
                        _load_predictions(models_folder / ldm, seeds, shape), data.bootstrap_ids)


def _effect_row(task, baseline, ldm, seeds, effect, paper):
    return {"task": task, "backbone": baseline, "seeds": " ".join(map(str, seeds)), "delta": effect.delta,
            "delta_std": effect.delta_std, "lower": effect.lower, "upper": effect.upper,
            "p_not_better": effect.p_not_better, "verdict": effect.verdict,
            "paper_delta": paper_delta(paper, baseline, ldm, task)}


def _per_label_rows(data, baseline, effect):
    return pd.DataFrame({"label": data.classes, "train_positives": data.y_train.sum(axis=0).astype(int),
                         "backbone": baseline, "baseline_auc": effect.baseline_label_auc,
                         "ldm_auc": effect.ldm_label_auc, "delta": effect.ldm_label_auc - effect.baseline_label_auc})


def _write_task(experiment_folder, task, pairs, paper):
    """Compare every pair in one experiment folder and write its per-label files; (rows, left-out seeds).

    The experiment's data is read only when a pair has a common seed, so a task without one needs none."""
    models_folder = experiment_folder / "models"
    rows, per_label, left_out, data = [], [], [], None
    for baseline, ldm in pairs:
        seeds, unpaired = _pair_seeds(models_folder, task, baseline, ldm)
        left_out += unpaired
        if not seeds:
            continue
        if data is None:
            data = ExperimentData.load(experiment_folder)
        effect = _pair_effect(models_folder, data, baseline, ldm, seeds)
        rows.append(_effect_row(task, baseline, ldm, seeds, effect, paper))
        per_label.append(_per_label_rows(data, baseline, effect))
    per_label = pd.concat(per_label, ignore_index=True) if per_label else pd.DataFrame(columns=PER_LABEL_COLUMNS)
    per_label.to_csv(experiment_folder / "ldm_per_label.csv", index=False)
    plot_per_label(per_label, len(data.y_train) if data is not None else None, task, experiment_folder / "ldm_per_label.png")
    return rows, left_out


def write_ldm_effect(outputfolder, models, tasks, dataset="ptbxl"):
    """Write ldm_effect.csv/.md/.png and the per-label files for the requested models and tasks of `dataset`
    (and every task of the other dataset that has an experiment folder).

    Returns the ldm_effect DataFrame and the list of `LeftOutSeed`s (print them: `str(seed)` says why).
    With no complete pair the files are still written and say that there is nothing to compare."""
    outputfolder = Path(outputfolder)
    outputfolder.mkdir(parents=True, exist_ok=True)
    pairs, paper = requested_pairs(models), read_paper_results()[0]
    rows, left_out, labels = [], [], []
    for name, task in covered_experiments(dataset, tasks):
        experiment_folder = outputfolder / DATASET_EXPERIMENTS[name].get(task, task)
        if experiment_folder.is_dir():
            labels.append(experiment_label(name, task))
            task_rows, task_left_out = _write_task(experiment_folder, labels[-1], pairs, paper)
            rows += task_rows
            left_out += task_left_out
    frame = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    frame.to_csv(outputfolder / "ldm_effect.csv", index=False)
    (outputfolder / "ldm_effect.md").write_text(effect_markdown(frame, left_out))
    plot_forest(frame, [label for label in labels if label in set(frame["task"])], outputfolder / "ldm_effect.png")
    return frame, left_out


def _signed(value, digits=4):
    return "-" if pd.isna(value) else f"{value:+.{digits}f}"


def effect_markdown(frame, left_out):
    """ldm_effect.md: the table, a paragraph on how to read it, and the seeds left out."""
    lines = ["# Paired effect of LDM (test macro-AUC of `<backbone>_ldm` minus `<backbone>`)", ""]
    if frame.empty:
        lines += ["Nothing to compare: no requested backbone has both its baseline and its LDM variant "
                  "complete for a common seed.", ""]
    else:
        lines += ["|Task|Backbone|Seeds|Delta (std)|90% interval|P(delta <= 0)|Verdict|Paper delta|",
                  "|:---|:---|:---|:---|:---|:---|:---|:---|"]
        lines += [f"|{r.task}|{model_row(r.backbone)}|{r.seeds}|{_signed(r.delta)} ({r.delta_std:.4f})|"
                  f"[{_signed(r.lower)}, {_signed(r.upper)}]|{r.p_not_better:.2f}|{r.verdict}|"
                  f"{_signed(r.paper_delta, 3)}|" for r in frame.itertuples()]
        lines += ["", "Delta: the mean over the seeds both models finished (column Seeds; a seed is one training "
                  "run of each) of LDM's test macro-AUC minus the baseline's, with its std over seeds (ddof=0). "
                  "The interval is the 5% and 95% quantiles of the same difference on the experiment's bootstrap "
                  "resamples of the test fold, which both models share, averaged over the seeds; P(delta <= 0) "
                  "is the fraction of resamples on which LDM is not better. Verdict: `better` when the whole "
                  "interval is above 0, `worse` when it is below 0, otherwise `unclear`. The interval reflects "
                  "which test records were drawn, not the spread between training runs (that is the std). "
                  "Paper delta: the LDM paper's LDM row minus its baseline row in that task's column, from its "
                  "printed 3-decimal means (`-` where it has none).", ""]
    if left_out:
        lines += ["Seeds left out (finished by one model of the pair only):", ""]
        lines += [f"- {seed}" for seed in left_out]
    else:
        lines += ["No seed was left out: every finished seed of a compared backbone has its partner."]
    return "\n".join(lines) + "\n"


def plot_forest(frame, tasks, path):
    """ldm_effect.png: a panel per task, a row per backbone, the delta with its 90% interval, the paper's
    delta marked and a line at zero; backbones keep their rows across panels."""
    backbones = in_order(frame["backbone"].unique().tolist(), table_models())
    columns = min(3, max(1, len(tasks)))
    rows = max(1, -(-len(tasks) // columns))
    figure = Figure(figsize=(max(6.5, 4.5 * columns), 0.6 + (1.2 + 0.35 * len(backbones)) * rows), layout="constrained")
    figure.suptitle("LDM minus baseline, test macro-AUC: mean over seeds, 5-95% bootstrap interval", fontsize=10)
    if not tasks:
        figure.text(0.5, 0.5, "nothing to compare: no backbone has a baseline and an LDM\n"
                    "cell finished for a common seed", ha="center", va="center")
    y = {backbone: position for position, backbone in enumerate(reversed(backbones))}
    for index, task in enumerate(tasks):
        axes = figure.add_subplot(rows, columns, index + 1)
        part = frame[frame["task"] == task]
        positions = [y[b] for b in part["backbone"]]
        axes.errorbar(part["delta"], positions, xerr=[part["delta"] - part["lower"], part["upper"] - part["delta"]],
                      fmt="o", color="tab:blue", capsize=3, label="ours (5-95%)")
        axes.scatter(part["paper_delta"], positions, marker="D", facecolors="none", edgecolors="tab:red",
                     label="paper", zorder=3)
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_yticks(list(y.values()), [model_row(b) for b in y], fontsize=8)
        axes.set_ylim(-0.6, len(backbones) - 0.4)
        axes.set_title(TASK_COLUMNS.get(task, task), fontsize=9)
        axes.set_xlabel("delta macro-AUC", fontsize=8)
        axes.xaxis.set_major_locator(MaxNLocator(5))
        axes.tick_params(axis="x", labelsize=8)
        axes.grid(axis="x", alpha=0.3)
        if index == 0:
            axes.legend(fontsize=7)
    figure.savefig(path, dpi=100, metadata=PNG_METADATA)


def plot_per_label(per_label, train_records, task, path):
    """ldm_per_label.png: each label's AUC delta against its training prevalence (log scale), a marker and
    colour per backbone, a line at zero: does LDM help the rare labels most?"""
    figure = Figure(figsize=(6.5, 4), layout="constrained")
    axes = figure.add_subplot()
    shown = per_label[per_label["delta"].notna() & (per_label["train_positives"] > 0)]
    if shown.empty:
        figure.text(0.5, 0.5, f"{task}: nothing to compare (no backbone with both models finished)",
                    ha="center", va="center")
        axes.set_axis_off()
    else:
        markers = "osD^vP*Xh<>"
        for index, (backbone, part) in enumerate(shown.groupby("backbone", sort=False)):
            axes.scatter(part["train_positives"] / train_records, part["delta"], marker=markers[index % len(markers)],
                         color=f"C{index}", alpha=0.8, label=model_row(backbone))
        axes.set_xscale("log")
        axes.axhline(0, color="black", linewidth=0.8)
        axes.set_xlabel("training prevalence of the label")
        axes.set_ylabel("test AUC delta (LDM - baseline)")
        axes.set_title(f"{task}: per-label effect of LDM, mean over common seeds", fontsize=10)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    figure.savefig(path, dpi=100, metadata=PNG_METADATA)
