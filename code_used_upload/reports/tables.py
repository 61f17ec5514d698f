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
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from code_used_upload.configs.paper import PAPER_MODELS
from code_used_upload.configs.tasks import AVERAGE_COLUMN, TASK_COLUMNS, TASK_EXPERIMENTS, TASKS
from code_used_upload.evaluation.metrics import read_te_results
from code_used_upload.models import available_models, model_row
from code_used_upload.reports.figures import plot_summary

PAPER_RESULTS = Path(__file__).resolve().parents[1] / "configs" / "paper_results.csv"
OTHER_RESULTS = PAPER_RESULTS.with_name("other_results.csv")  # published rows the paper lacks (S4)
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


def table_models():
    """Every known model in table order: the paper's twelve in its order, then the other registered ones."""
    return list(dict.fromkeys(PAPER_MODELS + available_models()))


def in_order(requested, known):
    """The requested names in the known order, then any unknown ones in the order given."""
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


def numeric_table(results, models, tasks):
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
    models, tasks = in_order(models, table_models()), in_order(tasks, TASKS)
    columns = [TASK_COLUMNS.get(task, task) for task in tasks] + [AVERAGE_COLUMN]
    cells = numeric_table(results, models, tasks)
    table = pd.DataFrame(
        [[format_cell(*cells[(m, c)][:2]) if (m, c) in cells else MISSING for c in columns] for m in models],
        index=pd.Index([model_row(model) for model in models], name="Method"),
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


def _published_results():
    """The paper's table with the other published rows below it (cells they lack are NaN), and the sources."""
    paper, source = read_paper_results()
    other, other_source = read_paper_results(OTHER_RESULTS)
    if paper is None or other is None:
        return paper, source
    return pd.concat([paper, other[~other.index.isin(paper.index)]]), source + other_source


def _comparison_markdown(results, models, tasks):
    """Our mean(std) beside the published value and the difference of the means, cell by cell."""
    paper, source = _published_results()
    lines = ["# Our results beside the LDM paper's", ""]
    if paper is None:
        return "\n".join(lines + ["The paper's published values are not in the project "
                                  f"({PAPER_RESULTS.name} is missing), so there is nothing to compare with.", ""])
    models, tasks = in_order(models, table_models()), in_order(tasks, TASKS)
    cells = numeric_table(results, models, tasks)
    all_tasks = set(tasks) == set(TASKS)
    columns = [TASK_COLUMNS[task] for task in tasks if task in TASK_COLUMNS] + [AVERAGE_COLUMN]
    lines += ["Published values: " + " ".join(source), "",
              "Ours: mean(std, ddof=0) over seeds of the test macro-AUC; difference = our mean - the paper's mean.", ""]
    if not all_tasks:
        lines += ["Average: not compared, because the paper averages all six tasks and this run asked for fewer.", ""]
    lines += ["|Method|Column|Seeds|Ours|Paper|Ours - paper|", "|:---|:---|:---|:---|:---|:---|"]
    for model in models:
        row = model_row(model)
        if row not in paper.index:
            continue
        for column in columns:
            if (column == AVERAGE_COLUMN and not all_tasks) or column not in paper or pd.isna(paper.loc[row, column]):
                continue
            published = _parse_cell(paper.loc[row, column])
            ours = cells.get((model, column))
            difference = f"{ours[0] - published[0]:+.3f}" if ours and published else MISSING
            lines.append("|" + "|".join([
                row, column, str(ours[2]) if ours else "0", format_cell(*ours[:2]) if ours else MISSING,
                paper.loc[row, column], difference]) + "|")
    return "\n".join(lines) + "\n"


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
        ordered_models, ordered_tasks = in_order(models, table_models()), in_order(tasks, TASKS)
        plot_summary(numeric_table(results, ordered_models, ordered_tasks), ordered_models, ordered_tasks,
                     outputfolder / "results.png")
    (outputfolder / "comparison.md").write_text(_comparison_markdown(results, models, tasks))
    return table
