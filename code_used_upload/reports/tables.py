"""The paper's table, ICBEB 2018's, the figure and the comparisons with the published values, from the cell
folders.

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
  smaller);
- PTB-XL's Fmax and macro-AUPRC have a table each in the same layout; ICBEB 2018's table (`exp_ICBEB`)
  has a row per model and its test macro-AUC, F_beta=2, G_beta=2, Fmax and macro-AUPRC, each cell as
  above. A run's summary shows its own dataset, and the other one where the output folder has cells of
  the requested models (PTB-XL's table then with all six tasks).
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from code_used_upload.configs.identity import IDENTITY_KEY, describe_table, shared_table
from code_used_upload.configs.paper import PAPER_MODELS
from code_used_upload.configs.tasks import (AVERAGE_COLUMN, DATASET_EXPERIMENTS, DATASET_NAMES, ICBEB_COLUMNS,
                                            ICBEB_EXPERIMENTS, TASK_COLUMNS, TASKS, parse_variant_folder)
from code_used_upload.evaluation.metrics import CHALLENGE_METRICS, FMAX_AUPRC, read_te_results
from code_used_upload.models import available_models, model_row
from code_used_upload.reports.figures import plot_summary

PAPER_RESULTS = Path(__file__).resolve().parents[1] / "configs" / "paper_results.csv"
OTHER_RESULTS = PAPER_RESULTS.with_name("other_results.csv")  # published rows the paper lacks (S4)
ICBEB_RESULTS = PAPER_RESULTS.with_name("icbeb_results.csv")  # the PTB-XL benchmark's published ICBEB 2018 rows
# the test macro-AUC's te_results values, then the challenge's point estimates (ICBEB cells only), then the
# point estimates of Fmax and macro-AUPRC (NaN for a cell evaluated before they were; --report-only adds them)
RESULT_COLUMNS = ["dataset", "task", "model", "seed", "point", "mean", "lower", "upper", *CHALLENGE_METRICS,
                  *FMAX_AUPRC]
VARIANT_COLUMNS = ["train_fraction", "finetuned"]  # where a cell trained on part of its folds, or was fine-tuned
# PTB-XL's tables of the other metrics, after the paper's: column -> (its name in the headers, its csv)
PTBXL_METRIC_TABLES = {"fmax": ("Fmax", "results_fmax.csv"), "macro_auprc": ("Macro-AUPRC", "results_macro_auprc.csv")}
# experiment folder -> (dataset, task); a folder the configs do not name is a PTB-XL task of its own name
EXPERIMENT_TASKS = {exp: (dataset, task) for dataset, experiments in DATASET_EXPERIMENTS.items()
                    for task, exp in experiments.items()}
ICBEB_TASK = ("icbeb", *ICBEB_EXPERIMENTS)  # its one task
SEED_FOLDER = re.compile(r"seed(\d+)")
MISSING = "-"


def collect_results(outputfolder, variants=False):
    """One row per complete cell (dataset, task, model, seed) with its te_results values. Cells trained on a
    fraction of the training folds or fine-tuned from another cell (their own experiment folders) are left
    out, or with `variants` kept, with the columns train_fraction and finetuned (reports/transfer.py)."""
    rows = [_result_row(model_folder, seed, te_results) for te_results, model_folder, seed in complete_cells(outputfolder)]
    rows = [row for row in rows if variants or (row["train_fraction"] == 1 and not row["finetuned"])]
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS + (VARIANT_COLUMNS if variants else []))
    results["seed"] = results["seed"].astype("Int64")
    return results


def complete_cells(outputfolder):
    """(te_results.csv, model folder, seed) of every complete cell under `outputfolder`.

    Seeded cells live in `models/<model>/seed<k>/`; a model without seeds (the benchmark's `naive`,
    deterministic) keeps the benchmark's `models/<model>/results/` and gets a missing seed. Hidden and
    temporary model folders are left out.
    """
    cells = []
    for te_results in sorted(Path(outputfolder).glob("*/models/*/*/results/te_results.csv")):
        seed = SEED_FOLDER.fullmatch(te_results.parents[1].name)
        if seed is not None:
            cells.append((te_results, te_results.parents[2], int(seed.group(1))))
    for te_results in sorted(Path(outputfolder).glob("*/models/*/results/te_results.csv")):
        cells.append((te_results, te_results.parents[1], pd.NA))
    return [cell for cell in cells if not cell[1].name.startswith((".", "tmp"))]


def _result_row(model_folder, seed, te_results):
    experiment, train_fraction, finetuned = parse_variant_folder(model_folder.parents[1].name)
    dataset, task = EXPERIMENT_TASKS.get(experiment, ("ptbxl", experiment))
    challenge = {metric: read_te_results(te_results, metric)["point"] for metric in CHALLENGE_METRICS
                 if (dataset, task) == ICBEB_TASK}
    written = pd.read_csv(te_results, index_col=0, nrows=0).columns
    fmax_auprc = {metric: read_te_results(te_results, metric)["point"] if metric in written else np.nan
                  for metric in FMAX_AUPRC}
    return {"dataset": dataset, "task": task, "model": model_folder.name, "seed": seed,
            **read_te_results(te_results), **challenge, **fmax_auprc, "train_fraction": train_fraction,
            "finetuned": finetuned}


def settings_line(outputfolder, results, dataset, models, tasks):
    """The settings every seeded cell of a table shares, as a line for results.md; refuses (configs/identity.py)
    a table whose cells were made with different settings. The naive rows have no settings: they are the
    training labels' prevalence."""
    shown = results[(results["dataset"] == dataset) & results["model"].isin(models) & results["task"].isin(tasks)
                    & results["seed"].notna()]
    identities = {}
    for task, model, seed in shown[["task", "model", "seed"]].itertuples(index=False):
        folder = Path(outputfolder) / DATASET_EXPERIMENTS[dataset].get(task, task) / "models" / model / f"seed{seed}"
        cell = folder / "cell.json"
        identities[str(folder)] = json.loads(cell.read_text()).get(IDENTITY_KEY) if cell.is_file() else None
    table = shared_table(identities, f"the {DATASET_NAMES[dataset]} table of {outputfolder}")
    return f"\nSettings of every cell in this table: {describe_table(table)}.\n" if table is not None else ""


def table_models():
    """Every known model in table order: the paper's twelve in its order, then the other registered ones."""
    return list(dict.fromkeys(PAPER_MODELS + available_models()))


def in_order(requested, known):
    """The requested names in the known order, then any unknown ones in the order given."""
    requested = list(dict.fromkeys(requested))
    return [name for name in known if name in requested] + [n for n in requested if n not in known]


def covered_experiments(dataset, tasks):
    """[(dataset, task)] a run's summaries cover: the requested tasks of the run's dataset and every task of
    the other datasets (shown where they have cells), PTB-XL's first, each dataset's in table order."""
    return [(name, task) for name, experiments in DATASET_EXPERIMENTS.items()
            for task in (in_order(tasks, list(experiments)) if name == dataset else experiments)]


def experiment_label(dataset, task):
    """How a table names an experiment: a PTB-XL task by its name, ICBEB 2018's one task by the dataset."""
    return task if dataset == "ptbxl" else DATASET_NAMES[dataset]


def _seed_statistics(results, column="point"):
    """(dataset, task, model) -> mean, std (ddof=0) and number of seeds of the `column` point estimates (of
    the cells that have it)."""
    grouped = results.dropna(subset=[column]).groupby(["dataset", "task", "model"])[column]
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


def numeric_table(results, models, tasks, metric="point"):
    """{(model, column): (mean, std, seeds)} of the PTB-XL tasks that have results, Average included, of the
    test macro-AUC (or of the results' column `metric`)."""
    statistics = _seed_statistics(results, metric)
    cells = {}
    for model in models:
        per_task = []
        for task in tasks:
            if ("ptbxl", task, model) in statistics.index:
                row = statistics.loc[("ptbxl", task, model)]
                cells[(model, TASK_COLUMNS.get(task, task))] = (row["mean"], row["std"], int(row["seeds"]))
                per_task.append(row)
        if tasks and len(per_task) == len(tasks):
            cells[(model, AVERAGE_COLUMN)] = (
                float(np.mean([row["mean"] for row in per_task])),
                float(np.mean([row["std"] for row in per_task])),
                min(int(row["seeds"]) for row in per_task),
            )
    return cells


def summary_table(results, models, tasks, metric="point"):
    """The paper's table: rows in its order, task columns then Average; strings `0.923(.001)` or `-`. With
    a `metric` of PTBXL_METRIC_TABLES, the same table of that metric, its columns named after it (`Fmax(All)`)."""
    models, tasks = in_order(models, table_models()), in_order(tasks, TASKS)
    columns = [TASK_COLUMNS.get(task, task) for task in tasks] + [AVERAGE_COLUMN]
    table = _string_table(numeric_table(results, models, tasks, metric), models, columns)
    if metric in PTBXL_METRIC_TABLES:
        table.columns = [column.replace("Macro-AUC", PTBXL_METRIC_TABLES[metric][0], 1) for column in columns]
    return table


def _string_table(cells, models, columns):
    """A table of `format_cell` strings (`-` where `cells` has none), a row per model named by its row."""
    return pd.DataFrame(
        [[format_cell(*cells[(m, c)][:2]) if (m, c) in cells else MISSING for c in columns] for m in models],
        index=pd.Index([model_row(model) for model in models], name="Method"),
        columns=columns,
    )


FOLDER_COLUMNS = {"point": "Macro-AUC", "fmax": "Fmax", "macro_auprc": "Macro-AUPRC"}  # column -> its header
ONE_TASK_COLUMNS = {"icbeb": ICBEB_COLUMNS, "folder": FOLDER_COLUMNS}  # the data sets of one task: their columns


def one_task_cells(results, models, dataset):
    """{(model, header): (mean, std, seeds)} of a one-task data set's cells (ICBEB 2018: its macro-AUC, F_beta=2,
    G_beta=2, Fmax and macro-AUPRC; your records: macro-AUC, Fmax and macro-AUPRC)."""
    (task,) = DATASET_EXPERIMENTS[dataset]
    cells = {}
    for column, header in ONE_TASK_COLUMNS[dataset].items():
        statistics = _seed_statistics(results[results["dataset"] == dataset], column)
        for model in models:
            if (dataset, task, model) in statistics.index:
                row = statistics.loc[(dataset, task, model)]
                cells[(model, header)] = (row["mean"], row["std"], int(row["seeds"]))
    return cells


def one_task_table(results, models, dataset):
    """A one-task data set's table: a row per model in table order, a column per metric, `0.923(.001)` or `-`."""
    models = in_order(models, table_models())
    return _string_table(one_task_cells(results, models, dataset), models, list(ONE_TASK_COLUMNS[dataset].values()))


def markdown_table(table):
    """A pipe table in the layout of the paper's README: the index's name and values as the first column."""
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


def _comparison_lines(cells, published, models, columns):
    """|Method|Column|Seeds|Ours|Published|Ours - published| rows: our mean(std) beside each published value
    of the models' rows, the difference of the means."""
    lines = []
    for model in models:
        row = model_row(model)
        if row not in published.index:
            continue
        for column in columns:
            if column not in published or pd.isna(published.loc[row, column]):
                continue
            value = _parse_cell(published.loc[row, column])
            ours = cells.get((model, column))
            difference = f"{ours[0] - value[0]:+.3f}" if ours and value else MISSING
            lines.append("|" + "|".join([
                row, column, str(ours[2]) if ours else "0", format_cell(*ours[:2]) if ours else MISSING,
                published.loc[row, column], difference]) + "|")
    return lines


def _comparison_markdown(results, models, tasks):
    """Our mean(std) beside the published value and the difference of the means, cell by cell."""
    paper, source = _published_results()
    lines = ["# Our results beside the LDM paper's", ""]
    if paper is None:
        return "\n".join(lines + ["The paper's published values are not in the project "
                                  f"({PAPER_RESULTS.name} is missing), so there is nothing to compare with.", ""])
    models, tasks = in_order(models, table_models()), in_order(tasks, TASKS)
    all_tasks = set(tasks) == set(TASKS)
    columns = [TASK_COLUMNS[task] for task in tasks if task in TASK_COLUMNS] + ([AVERAGE_COLUMN] if all_tasks else [])
    lines += ["Published values: " + " ".join(source), "",
              "Ours: mean(std, ddof=0) over seeds of the test macro-AUC; difference = our mean - the paper's mean.", ""]
    if not all_tasks:
        lines += ["Average: not compared, because the paper averages all six tasks and this run asked for fewer.", ""]
    lines += ["|Method|Column|Seeds|Ours|Paper|Ours - paper|", "|:---|:---|:---|:---|:---|:---|"]
    lines += _comparison_lines(numeric_table(results, models, tasks), paper, models, columns)
    return "\n".join(lines) + "\n"


def _icbeb_comparison_markdown(results, models):
    """ICBEB 2018: our mean(std) beside the benchmark's published values and the difference of the means."""
    published, source = read_paper_results(ICBEB_RESULTS)
    models = in_order(models, table_models())
    lines = ["# ICBEB 2018: our results beside the PTB-XL benchmark's", "",
             "Published values: " + " ".join(source), "",
             "Ours: mean(std, ddof=0) over seeds of the test point estimates; difference = our mean - the published "
             "value.", "",
             "|Method|Column|Seeds|Ours|Published|Ours - published|", "|:---|:---|:---|:---|:---|:---|"]
    lines += _comparison_lines(one_task_cells(results, models, "icbeb"), published, models, list(ICBEB_COLUMNS.values()))
    return "\n".join(lines) + "\n"


PTBXL_NOTES = ("\nEach cell: mean(std) over seeds of the test macro-AUC point estimate (std with ddof=0); "
               "`-`: no finished seed. Average: mean over the tasks of the per-task means (std: mean of the "
               "per-task stds), `-` unless every task has a result.\n")
FMAX_AUPRC_NOTES = {
    "fmax": "Fmax: the benchmark paper's sample-centric maximum F-score over the thresholds 0.00, 0.01, ..., "
            "1.00, the threshold chosen on the test fold itself as the paper did (so optimistic).",
    "macro_auprc": "Macro-AUPRC: the mean over labels of the area under the test precision-recall curve "
                   "(scikit-learn's average precision).",
}
ICBEB_NOTES = ("\nEach cell: mean(std) over seeds of the test point estimate (std with ddof=0); `-`: no finished "
               "seed. F_beta=2 and G_beta=2: the challenge's macro scores of the test predictions binarised with "
               "per-class thresholds that maximise G_beta=2 on the training predictions, as the benchmark scores "
               "`exp_ICBEB`. " + " ".join(FMAX_AUPRC_NOTES.values()) + "\n")

FOLDER_NOTES = ("\nEach cell: mean(std) over seeds of the test point estimates (std with ddof=0); `-`: no finished "
                "seed. Fmax's threshold is chosen on the test fold, as the benchmark paper did.\n")


def write_summary(outputfolder, models, tasks, figure=True, dataset="ptbxl"):
    """results.md, comparison.md and the tables as csv in the output folder, from its cells, for the
    requested models: PTB-XL's table (results.csv; with `figure`, results.png) and its Fmax and macro-AUPRC
    tables (results_fmax.csv, results_macro_auprc.csv) of the requested tasks if
    `dataset` is PTB-XL, of all six if it has cells of these models; ICBEB 2018's (results_icbeb.csv) if
    `dataset` is ICBEB or it has cells of these models; your records' (results_folder.csv) likewise. Drawing
    the figure takes about a second, so the grid redraws it once per task."""
    outputfolder = Path(outputfolder)
    outputfolder.mkdir(parents=True, exist_ok=True)
    results = collect_results(outputfolder)
    shown = {dataset, *results.loc[results["model"].isin(models), "dataset"]}
    markdown, comparison = [], []
    if "ptbxl" in shown:
        ptbxl_tasks = [task for name, task in covered_experiments(dataset, tasks) if name == "ptbxl"]
        table = summary_table(results, models, ptbxl_tasks)
        markdown.append(markdown_table(table) + PTBXL_NOTES
                        + settings_line(outputfolder, results, "ptbxl", models, ptbxl_tasks))
        table.to_csv(outputfolder / "results.csv")
        for metric, (name, csv) in PTBXL_METRIC_TABLES.items():
            metric_table = summary_table(results, models, ptbxl_tasks, metric)
            markdown.append(f"## PTB-XL: {name}\n\n{markdown_table(metric_table)}\n{FMAX_AUPRC_NOTES[metric]} "
                            "Cells and Average as in the macro-AUC table.\n")
            metric_table.to_csv(outputfolder / csv)
        if figure:
            ordered_models, ordered_tasks = in_order(models, table_models()), in_order(ptbxl_tasks, TASKS)
            plot_summary(numeric_table(results, ordered_models, ordered_tasks), ordered_models, ordered_tasks,
                         outputfolder / "results.png")
        comparison.append(_comparison_markdown(results, models, ptbxl_tasks))
    if ICBEB_TASK[0] in shown:
        table = one_task_table(results, models, "icbeb")
        markdown.append(f"## {DATASET_NAMES[ICBEB_TASK[0]]} (all nine labels)\n\n{markdown_table(table)}{ICBEB_NOTES}"
                        + settings_line(outputfolder, results, ICBEB_TASK[0], models, [ICBEB_TASK[1]]))
        table.to_csv(outputfolder / "results_icbeb.csv")
        comparison.append(_icbeb_comparison_markdown(results, models))
    if "folder" in shown:
        table = one_task_table(results, models, "folder")
        markdown.append(f"## {DATASET_NAMES['folder']} (every label of the folder's table)\n\n{markdown_table(table)}"
                        f"{FOLDER_NOTES}" + settings_line(outputfolder, results, "folder", models, ["all"]))
        table.to_csv(outputfolder / "results_folder.csv")
    (outputfolder / "results.md").write_text("\n".join(markdown))
    (outputfolder / "comparison.md").write_text("\n".join(comparison))
