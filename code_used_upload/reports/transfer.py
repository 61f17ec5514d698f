"""The transfer experiment: test macro-AUC against the share of the training folds, from scratch and fine-tuned.

The benchmark paper (Strodthoff et al., IEEE JBHI 2021) fine-tunes a PTB-XL model on ICBEB 2018 with a
fraction of its training folds and compares it with the same model trained from scratch on that fraction.
Here every such cell has its own experiment folder (`exp_ICBEB_fraction0.1`, `exp_ICBEB_finetuned_fraction0.1`,
configs/tasks.py), and this module reads them all back from disk:
- `transfer.csv` / `transfer.md`: a row per (task, model, fraction) with the training records it kept and
  the test macro-AUC as mean(std) over seeds from scratch and fine-tuned, each column's settings below it;
- `transfer.png`: a panel per task, the test macro-AUC against the fraction, a line per model and start.
Written only where the output folder has a fraction or a fine-tuned cell of the requested models.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from code_used_upload.configs.identity import IDENTITY_KEY, describe_table, shared_table
from code_used_upload.configs.tasks import DATASET_EXPERIMENTS, variant_folder
from code_used_upload.models import model_row
from code_used_upload.reports.tables import (MISSING, collect_results, experiment_label, format_cell, in_order,
                                             markdown_table, table_models)

STARTS = {False: "From scratch", True: "Fine-tuned"}


def cell_folder(outputfolder, dataset, task, model, seed, train_fraction, finetuned):
    experiment = variant_folder(DATASET_EXPERIMENTS[dataset][task], train_fraction, finetuned)
    return Path(outputfolder) / experiment / "models" / model / f"seed{seed}"


def training_records(outputfolder, dataset, task, train_fraction):
    """The number of training records a fraction kept (its experiment's data/y_train.npy), or None."""
    for finetuned in STARTS:
        path = Path(outputfolder) / variant_folder(DATASET_EXPERIMENTS[dataset][task], train_fraction, finetuned)
        if (path / "data" / "y_train.npy").is_file():
            return len(np.load(path / "data" / "y_train.npy", mmap_mode="r"))
    return None


def transfer_statistics(outputfolder, models, tasks, dataset):
    """The seeded cells of the requested models and tasks of `dataset`, every fraction and start: mean, std
    (ddof=0) and seeds of their test macro-AUC, indexed (task, model, train_fraction, finetuned)."""
    results = collect_results(outputfolder, variants=True)
    cells = results[(results["dataset"] == dataset) & results["task"].isin(tasks) & results["model"].isin(models)
                    & results["seed"].notna()]
    grouped = cells.groupby(["task", "model", "train_fraction", "finetuned"])["point"]
    statistics = pd.DataFrame({"mean": grouped.mean(), "std": grouped.agg(lambda points: float(np.std(points))),
                               "seeds": grouped.count()})
    return cells, statistics


def transfer_table(outputfolder, statistics, models, tasks, dataset):
    """A row per (task, model, fraction): the training records kept, and mean(std) from scratch and fine-tuned."""
    rows = []
    for task in in_order(tasks, list(DATASET_EXPERIMENTS[dataset])):
        for model in in_order(models, table_models()):
            fractions = sorted({index[2] for index in statistics.index if index[:2] == (task, model)}, reverse=True)
            for fraction in fractions:
                cells = [statistics.loc[(task, model, fraction, start)] if (task, model, fraction, start) in
                         statistics.index else None for start in STARTS]
                records = training_records(outputfolder, dataset, task, fraction)
                rows.append([experiment_label(dataset, task), model_row(model), f"{fraction:g}",
                             MISSING if records is None else str(records),
                             *[format_cell(cell["mean"], cell["std"]) if cell is not None else MISSING for cell in cells]])
    columns = ["Experiment", "Method", "Training fraction", "Training records", *STARTS.values()]
    return pd.DataFrame(rows, columns=columns).set_index("Experiment")


def settings_lines(outputfolder, cells, dataset):
    """A line per start with the settings its cells share (refusing a column of cells of other settings)."""
    lines = []
    for finetuned, start in STARTS.items():
        identities = {}
        for row in cells[cells["finetuned"] == finetuned].itertuples():
            folder = cell_folder(outputfolder, dataset, row.task, row.model, row.seed, row.train_fraction, finetuned)
            identities[str(folder)] = json.loads((folder / "cell.json").read_text()).get(IDENTITY_KEY)
        table = shared_table(identities, f"the {start.lower()} column of {Path(outputfolder) / 'transfer.md'}")
        if table is not None:
            lines.append(f"{start}: {describe_table(table)}.")
    return lines


def plot_transfer(statistics, models, tasks, dataset, path):
    """transfer.png: a panel per task, the test macro-AUC (mean and std over seeds) against the fraction of the
    training folds, a colour per model, solid fine-tuned and dashed from scratch."""
    frame = statistics.reset_index()
    tasks = [task for task in tasks if task in set(frame["task"])]
    figure = Figure(figsize=(6 * max(1, len(tasks)), 4), layout="constrained")
    figure.suptitle("Test macro-AUC against the training share: mean and std over seeds", fontsize=10)
    for index, task in enumerate(tasks):
        axes = figure.add_subplot(1, len(tasks), index + 1)
        for colour, model in enumerate(in_order(models, table_models())):
            for finetuned, start in STARTS.items():
                part = frame[(frame["task"] == task) & (frame["model"] == model) & (frame["finetuned"] == finetuned)]
                if not part.empty:
                    part = part.sort_values("train_fraction")
                    axes.errorbar(part["train_fraction"], part["mean"], yerr=part["std"], capsize=3, color=f"C{colour}",
                                  marker="o" if finetuned else "s", mfc=None if finetuned else "white",
                                  linestyle="-" if finetuned else "--",
                                  label=f"{model_row(model)}, {start.lower()}")
        axes.set_xscale("log")
        axes.set_xlabel("share of the training folds")
        axes.set_ylabel("test macro-AUC")
        axes.set_title(experiment_label(dataset, task), fontsize=10)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    figure.savefig(path, dpi=100, metadata={"Software": None})


def write_transfer_summary(outputfolder, models, tasks, dataset, figure=True):
    """transfer.md, transfer.csv and (with `figure`) transfer.png, where the output folder has a cell of the
    requested models and tasks of `dataset` trained on a fraction or fine-tuned; otherwise nothing."""
    cells, statistics = transfer_statistics(outputfolder, models, tasks, dataset)
    if not ((cells["train_fraction"] != 1) | cells["finetuned"]).any():
        return
    table = transfer_table(outputfolder, statistics, models, tasks, dataset)
    table.to_csv(Path(outputfolder) / "transfer.csv")
    notes = ["", "Each cell: mean(std) over seeds of the test macro-AUC point estimate (std with ddof=0); `-`: no "
             "finished seed. Training fraction: the share of the training folds kept, label-stratified over patients "
             "(seeded, the same records for every model and start); the validation and test folds are whole. "
             "Fine-tuned: from the cell named in each cell's cell.json (init_from), in the benchmark's two stages.",
             "", *settings_lines(outputfolder, cells, dataset), ""]
    (Path(outputfolder) / "transfer.md").write_text("# Transfer: from scratch and fine-tuned\n\n"
                                                    + markdown_table(table)
                                                    + "\n".join(notes))
    if figure:
        plot_transfer(statistics, models, tasks, dataset, Path(outputfolder) / "transfer.png")
