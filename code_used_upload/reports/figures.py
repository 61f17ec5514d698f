"""Figures: the paper's table as bars (results.png) and a cell's training curve (training.png).

Figures use matplotlib's Figure directly (Agg canvas, no pyplot state), so writing them is cheap
and safe from any thread.
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from code_used_upload.configs.tasks import TASK_COLUMNS
from code_used_upload.models import model_row, split_model_name


def plot_training(history, path):
    """training.png: the per-epoch training loss, and the validation macro-AUC where it was measured."""
    losses = history["train_loss"]
    figure = Figure(figsize=(6, 3.6), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(np.arange(1, len(losses) + 1), losses, marker=".", color="tab:blue")
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("training loss", color="tab:blue")
    axes.grid(alpha=0.3)
    if history.get("val_auc"):
        epochs, aucs = zip(*history["val_auc"])
        twin = axes.twinx()
        twin.plot(epochs, aucs, marker="o", color="tab:orange")
        twin.set_ylabel("validation macro-AUC", color="tab:orange")
    figure.savefig(path, dpi=100)


def plot_summary(cells, models, tasks, path):
    """One panel per task: baseline and +LDM bars per backbone, the seeds' std as error bars.

    cells: {(model, column): (mean, std, seeds)}; models and tasks in table order.
    """
    backbones = list(dict.fromkeys(split_model_name(m)[0] for m in models))
    panels = [task for task in tasks if any((m, TASK_COLUMNS.get(task, task)) in cells for m in models)]
    columns = min(3, max(1, len(panels)))
    rows = max(1, -(-len(panels) // columns))
    figure = Figure(figsize=(5 * columns, 3.6 * rows), layout="constrained")
    figure.suptitle("Test macro-AUC, mean and std over seeds (the y axes do not start at 0)", fontsize=11)
    if not panels:
        figure.text(0.5, 0.5, "no finished cells yet", ha="center", va="center")
    x = np.arange(len(backbones))
    for index, task in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        column = TASK_COLUMNS.get(task, task)
        values = []
        for offset, (suffix, label, colour) in enumerate([("", "baseline", "tab:gray"), ("_ldm", "+LDM", "tab:blue")]):
            stats = [cells.get((backbone + suffix, column)) if backbone + suffix in models else None
                     for backbone in backbones]
            means = [s[0] if s else np.nan for s in stats]
            stds = [s[1] if s else 0.0 for s in stats]
            axes.bar(x + (offset - 0.5) * 0.4, means, 0.4, yerr=stds, capsize=3, label=label, color=colour)
            values += [m - s for m, s in zip(means, stds) if not np.isnan(m)]
            values += [m + s for m, s in zip(means, stds) if not np.isnan(m)]
        low, high = min(values), max(values)
        margin = max(0.01, 0.15 * (high - low))
        axes.set_ylim(max(0.0, low - margin), min(1.0, high + margin))
        axes.set_xlim(-0.6, len(backbones) - 0.4)  # missing bars keep their place
        axes.set_xticks(x, [model_row(b) for b in backbones], rotation=30, ha="right", fontsize=8)
        axes.set_title(column, fontsize=10)
        axes.set_ylabel("test macro-AUC")
        axes.grid(axis="y", alpha=0.3)
        if index == 0:
            axes.legend(fontsize=8)
    figure.savefig(path, dpi=100)
