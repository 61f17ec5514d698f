"""The paper's table, its figure and the comparison with the published values, from the cell folders.

Everything is rebuilt from `<outputfolder>/<exp>/models/<model>/seed<k>/results/te_results.csv`
(only complete cells are there; temporary folders are ignored), so the summary after every finished
cell is always consistent with what is on disk. Conventions:
- a cell `0.923(.001)` is the mean and the standard deviation over seeds of the test macro-AUC
  point estimate; the paper does not say which std it printed, ddof=0 (numpy's default) is our
  choice; one seed gives `.000`; `-` where no seed finished;
- the Average column is the mean over tasks of the per-task means, with the mean over tasks of the
  per-task standard deviations in brackets; it is `-` unless every requested task has a result (an
  average over a different set of tasks would not be comparable). The paper's own Average cells
  fit this in all twelve rows within the rounding of its printed cells (the mean of the six
  printed stds is within .0005 of the printed Average std; the std of per-seed averages would be
  smaller).
Figures use matplotlib's Figure directly (Agg canvas, no pyplot state), so writing them is cheap
and safe from any thread.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..configs.configs import MODEL_ROWS, MODELS
from ..configs.tasks import AVERAGE_COLUMN, TASK_COLUMNS, TASK_EXPERIMENTS, TASKS
from .metrics import read_te_results

PAPER_RESULTS = Path(__file__).resolve().parents[1] / "configs" / "paper_results.csv"
RESULT_COLUMNS = ["task", "model", "seed", "point", "mean", "lower", "upper"]
EXPERIMENT_TASKS = {exp: task for task, exp in TASK_EXPERIMENTS.items()}
SEED_FOLDER = re.compile(r"seed(\d+)")
MISSING = "-"


def collect_results(outputfolder):
    """One row per complete cell (task, model, seed) with its te_results values.

    Seeded cells live in `models/<model>/seed<k>/`; a model without seeds (the benchmark's `naive`,
    deterministic) keeps the benchmark's `models/<model>/results/` and gets a missing seed.
    """
    rows = []
    for te_results in sorted(Path(outputfolder).glob("*/models/*/*/results/te_results.csv")):
        seed = SEED_FOLDER.fullmatch(te_results.parents[1].name)
        if seed is not None:
            rows.append(_result_row(te_results.parents[2], int(seed.group(1)), te_results))
    for te_results in sorted(Path(outputfolder).glob("*/models/*/results/te_results.csv")):
        rows.append(_result_row(te_results.parents[1], pd.NA, te_results))
    rows = [row for row in rows if not row["model"].startswith((".", "tmp"))]
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    results["seed"] = results["seed"].astype("Int64")
    return results


def _result_row(model_folder, seed, te_results):
    experiment = model_folder.parents[1].name
    return {"task": EXPERIMENT_TASKS.get(experiment, experiment), "model": model_folder.name, "seed": seed,
            **read_te_results(te_results)}


def _in_order(requested, known):
    """The requested names in the configs' order, then any unknown ones in the order given."""
    requested = list(dict.fromkeys(requested))
    return [name for name in known if name in requested] + [n for n in requested if n not in known]


def _seed_statistics(results):
    """(task, model) -> mean, std (ddof=0) and number of seeds of the point estimates."""
    grouped = results.groupby(["task", "model"])["point"]
    return pd.DataFrame({
        "mean": grouped.mean(),
        "std": grouped.agg(lambda points: float(np.std(points))),
        "seeds": grouped.count(),
    })


def format_cell(mean, std):
    """`0.923(.001)`: three decimals, the std without its leading zero, as in the paper."""
    return f"{mean:.3f}({f'{std:.3f}'[1:]})"


def _parse_cell(text):
    """(mean, std) from `0.923(.001)`; None for `-`."""
    match = re.fullmatch(r"\s*([0-9.]+)\(([0-9.]+)\)\s*", str(text))
    return (float(match.group(1)), float(match.group(2))) if match else None


def _numeric_table(results, models, tasks):
    """{(model, column): (mean, std, seeds)} for the cells that have results, Average included."""
    statistics = _seed_statistics(results)
    cells = {}
    for model in models:
        per_task = []
        for task in tasks:
            if (task, model) in statistics.index:
                row = statistics.loc[(task, model)]
                cells[(model, TASK_COLUMNS.get(task, task))] = (row["mean"], row["std"], int(row["seeds"]))
                per_task.append(row)
        if tasks and len(per_task) == len(tasks):
            cells[(model, AVERAGE_COLUMN)] = (
                float(np.mean([row["mean"] for row in per_task])),
                float(np.mean([row["std"] for row in per_task])),
                min(int(row["seeds"]) for row in per_task),
            )
    return cells


def summary_table(results, models, tasks):
    """The paper's table: rows in its order, task columns then Average; strings `0.923(.001)` or `-`."""
    models, tasks = _in_order(models, MODELS), _in_order(tasks, TASKS)
    columns = [TASK_COLUMNS.get(task, task) for task in tasks] + [AVERAGE_COLUMN]
    cells = _numeric_table(results, models, tasks)
    table = pd.DataFrame(
        [[format_cell(*cells[(m, c)][:2]) if (m, c) in cells else MISSING for c in columns] for m in models],
        index=pd.Index([MODEL_ROWS.get(model, model) for model in models], name="Method"),
        columns=columns,
    )
    return table


def _markdown(table):
    """A pipe table in the layout of the paper's README."""
    lines = ["|" + "|".join([table.index.name, *table.columns]) + "|"]
    lines.append("|" + "|".join([":---"] * (len(table.columns) + 1)) + "|")
    lines += ["|" + "|".join([name, *row]) + "|" for name, row in zip(table.index, table.values)]
    return "\n".join(lines) + "\n"


def read_paper_results(path=PAPER_RESULTS):
    """The published table (strings, indexed by row name) and its source lines; None if absent."""
    path = Path(path)
    if not path.is_file():
        return None, []
    source = [line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")]
    return pd.read_csv(path, comment="#", index_col=0, dtype=str), source


def _comparison_markdown(results, models, tasks):
    """Our mean(std) beside the paper's value and the difference of the means, cell by cell."""
    paper, source = read_paper_results()
    lines = ["# Our results beside the LDM paper's", ""]
    if paper is None:
        return "\n".join(lines + ["The paper's published values are not in the project "
                                  f"({PAPER_RESULTS.name} is missing), so there is nothing to compare with.", ""])
    models, tasks = _in_order(models, MODELS), _in_order(tasks, TASKS)
    cells = _numeric_table(results, models, tasks)
    all_tasks = set(tasks) == set(TASKS)
    columns = [TASK_COLUMNS[task] for task in tasks if task in TASK_COLUMNS] + [AVERAGE_COLUMN]
    lines += ["Paper's values: " + " ".join(source), "",
              "Ours: mean(std, ddof=0) over seeds of the test macro-AUC; difference = our mean - the paper's mean.", ""]
    if not all_tasks:
        lines += ["Average: not compared, because the paper averages all six tasks and this run asked for fewer.", ""]
    lines += ["|Method|Column|Seeds|Ours|Paper|Ours - paper|", "|:---|:---|:---|:---|:---|:---|"]
    for model in models:
        row = MODEL_ROWS.get(model, model)
        if row not in paper.index:
            continue
        for column in columns:
            if column == AVERAGE_COLUMN and not all_tasks:
                continue
            published = _parse_cell(paper.loc[row, column])
            ours = cells.get((model, column))
            difference = f"{ours[0] - published[0]:+.3f}" if ours and published else MISSING
            lines.append("|" + "|".join([
                row, column, str(ours[2]) if ours else "0", format_cell(*ours[:2]) if ours else MISSING,
                paper.loc[row, column], difference]) + "|")
    return "\n".join(lines) + "\n"


def _plot_summary(results, models, tasks, path):
    """One panel per task: baseline and +LDM bars per backbone, the seeds' std as error bars."""
    models, tasks = _in_order(models, MODELS), _in_order(tasks, TASKS)
    cells = _numeric_table(results, models, tasks)
    backbones = list(dict.fromkeys(m[: -len("_ldm")] if m.endswith("_ldm") else m for m in models))
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
        axes.set_xticks(x, [MODEL_ROWS.get(b, b) for b in backbones], rotation=30, ha="right", fontsize=8)
        axes.set_title(column, fontsize=10)
        axes.set_ylabel("test macro-AUC")
        axes.grid(axis="y", alpha=0.3)
        if index == 0:
            axes.legend(fontsize=8)
    figure.savefig(path, dpi=100)


def write_summary(outputfolder, models, tasks, figure=True):
    """results.md, results.csv, comparison.md and (with `figure`) results.png in the output folder,
    from its cells. Drawing the figure takes about a second, so the grid redraws it once per task."""
    outputfolder = Path(outputfolder)
    outputfolder.mkdir(parents=True, exist_ok=True)
    results = collect_results(outputfolder)
    table = summary_table(results, models, tasks)
    notes = ("\nEach cell: mean(std) over seeds of the test macro-AUC point estimate (std with ddof=0); "
             "`-`: no finished seed. Average: mean over the tasks of the per-task means (std: mean of the "
             "per-task stds), `-` unless every task has a result.\n")
    (outputfolder / "results.md").write_text(_markdown(table) + notes)
    table.to_csv(outputfolder / "results.csv")
    if figure:
        _plot_summary(results, models, tasks, outputfolder / "results.png")
    (outputfolder / "comparison.md").write_text(_comparison_markdown(results, models, tasks))
    return table


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
