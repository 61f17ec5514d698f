"""The noisy-label runs' summary (results.md/.csv/.png under the experiment's folder) and a run's weight figure.

Everything is read from the complete cells' `cell.json` (`<outputfolder>/<dataset>/<setting>/models/
<method>/seed<k>/`), so the summary after every finished cell matches what is on disk. Tables: rows are
the methods, columns the noise settings in the order asked for; a cell is the mean(std, ddof=0) over
seeds, accuracies in percent as the HMW paper prints them, `-` where no seed finished. The tables: the
last epoch's clean test accuracy (the headline: the weighting acts late in training, when the baselines
have memorised the noise), the best epoch's, and how well each method's per-sample score tells the
mislabelled training samples from the clean ones (AUROC): HMW's final weights, AUM over the epochs
before the first learning-rate drop (as its authors use it) and over every epoch, and cleanlab's label
quality scores; and for UniCon the precision and recall of its last labelled set. Only the tables that
have a value are written.

A table holds runs of one setting only (configs/identity.py): every run shares the table part of its
identity (the precision), and the runs of one row on one data set (a method under one noise mode) share
every resolved setting but their seed, noise rate and noisy labels. The report states the settings every
run shares and, row by row, those its runs share beyond them; it refuses to mix runs that differ.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from code_used_upload.configs.identity import (IDENTITY_KEY, OtherSettingsError, describe_table, differences, flat,
                                              shared_table)
from code_used_upload.reports.tables import MISSING, markdown_table

CELL_FILE = "cell.json"
SCORES = ["last_acc", "best_acc", "last10_acc", "weight_auroc", "aum_auroc_first_drop", "aum_auroc", "cleanlab_auroc",
          "flagged", "flag_precision", "flag_recall", "selection_precision", "selection_recall"]
COLUMNS = ["setting", "method", "seed", *SCORES]
TABLES = [("last_acc", "Clean test accuracy (%) at the last epoch", 100.0),
          ("best_acc", "Clean test accuracy (%) at the best epoch", 100.0),
          ("weight_auroc", "AUROC of the final HMW weights at telling clean from mislabelled training samples", 1.0),
          ("aum_auroc_first_drop", "AUROC of AUM (the mean raw-logit margin, Pleiss et al. 2020) over the epochs before "
                                   "the first learning-rate drop, as its authors use it; same runs", 1.0),
          ("aum_auroc", "AUROC of AUM over every epoch; same runs", 1.0),
          ("cleanlab_auroc", "AUROC of cleanlab's label quality scores (self-confidence of K-fold out-of-fold "
                             "probabilities)", 1.0),
          ("selection_precision", "UniCon: the share of correct labels in the last epoch's labelled set", 1.0),
          ("selection_recall", "UniCon: the share of the correct labels that the last epoch's labelled set holds", 1.0)]


def collect_noisy_results(outputfolder, methods, settings, with_identity=False):
    """One row per complete cell of the requested methods and settings (a missing score NaN); with
    `with_identity` also {cell folder: its recorded identity}."""
    rows, identities = [], {}
    for setting in settings:
        for method in methods:
            for path in sorted((Path(outputfolder) / setting / "models" / method).glob(f"seed*/{CELL_FILE}")):
                record = json.loads(path.read_text())
                rows.append({"setting": setting, "method": method, "seed": record["seed"],
                             **{key: record.get(key, np.nan) for key in SCORES}})
                identities[str(path.parent)] = record.get(IDENTITY_KEY)
    results = pd.DataFrame(rows, columns=COLUMNS)
    return (results, identities) if with_identity else results


# what places a run in its table (its row, column and seed) and the fingerprints that follow from that place
PLACING = ("dataset", "noise_mode", "r", "label_set", "method", "seed", "data_sha256", "noise_sha256")
VARYING_IN_A_ROW = ("seed", "r", "label_set", "noise_sha256")  # a row's runs differ in these only
# the recipe's fields that only the ECG runs read, left out of a noisy-label table's statement
ECG_ONLY = ("recipe.window_seconds", "recipe.stride_seconds", "recipe.aggregate", "recipe.checkpoint",
            "recipe.betas", "recipe.clip")


def table_settings(identities, what):
    """What a table's runs ({place: identity or None}) share, as lines for its report: the settings of every
    run, then row by row (a method on a data set under one noise mode) those its runs share beyond them.
    Refuses (OtherSettingsError) a table whose runs differ in their table part, or two runs of one row that
    differ in anything but their seed, noise rate and noisy labels."""
    table = shared_table(identities, what)
    rows = {}
    for place, recorded in identities.items():
        cell = (recorded or {}).get("cell", {})
        row = (cell.get("method"), cell.get("dataset"), cell.get("noise_mode"))
        kept = {key: value for key, value in cell.items() if key not in VARYING_IN_A_ROW}
        first_place, first = rows.setdefault(row, (place, kept))
        found = differences(first, kept)
        if found:
            raise OtherSettingsError(f"{what} would mix runs of different settings: {first_place} and {place} differ "
                                     f"in {'; '.join(found)}. Keep each settings' runs in an output folder of its "
                                     "own, or delete the runs you do not want in this table")
    described = {row: _stated(cell) for row, (_, cell) in rows.items()}
    first, *others = list(described.values()) or [{}]
    common = {name: value for name, value in first.items() if all(other.get(name, ()) == value for other in others)}
    lines = [f"Settings of every run in these tables: {describe_table({**(table or {}), **common})}."]
    beyond = {}  # the settings a row's runs share beyond the common ones -> the rows that share them
    for (method, dataset, mode), stated in sorted(described.items(), key=lambda item: tuple(map(str, item[0]))):
        own = describe_table({name: value for name, value in stated.items() if name not in common})
        if own != describe_table({}):
            beyond.setdefault((method, own), []).append(f"{dataset} {mode}")
    return lines + [f"- {method} ({', '.join(where)}): {own}" for (method, own), where in beyond.items()]


def _stated(cell):
    """A run's resolved settings as a table states them: flat, without what places the run or only the ECG
    runs read, the view by its flag's word (`none`)."""
    stated = {name: value for name, value in flat({key: value for key, value in cell.items() if key not in PLACING}).items()
              if name not in ECG_ONLY}
    if "recipe.augment" in stated and stated["recipe.augment"] is None:
        stated["recipe.augment"] = "none"
    return stated


def format_cell(values, scale):
    values = np.asarray(values, dtype=np.float64) * scale
    if len(values) == 0 or np.isnan(values).all():
        return MISSING
    digits = 2 if scale == 100.0 else 3
    return f"{np.nanmean(values):.{digits}f}({np.nanstd(values):.{digits}f})"


def noisy_table(results, methods, settings, key, scale):
    """methods x settings of mean(std) strings of `key` over seeds."""
    return pd.DataFrame([[format_cell(results.loc[(results["method"] == m) & (results["setting"] == s), key], scale)
                          for s in settings] for m in methods],
                        index=pd.Index(methods, name="Method"), columns=settings)


def write_noisy_summary(outputfolder, methods, settings, figure=True):
    """results.md (the tables), results.csv (one row per cell) and, with `figure`, results.png."""
    outputfolder = Path(outputfolder)
    outputfolder.mkdir(parents=True, exist_ok=True)
    results, identities = collect_noisy_results(outputfolder, methods, settings, with_identity=True)
    stated = table_settings(identities, f"the table of {outputfolder}")
    seeds = sorted(results["seed"].unique().tolist())
    parts = ["# Learning with noisy labels: HMW and its baselines", "",
             f"Each cell: mean(std, ddof=0) over the seeds that finished ({', '.join(map(str, seeds)) or 'none yet'}); "
             "`-`: none finished (AUROCs: no such score for the method, or no mislabelled sample). "
             "Columns: <dataset>/<sym|asym><noise rate>, <dataset>/none (the labels as they are) or "
             "<dataset>/human-<CIFAR-N's label set>.", "",
             *stated, ""]
    for key, title, scale in TABLES:
        if key in ("last_acc", "best_acc") or results[key].notna().any():
            parts += [f"## {title}", "", markdown_table(noisy_table(results, methods, settings, key, scale))]
    (outputfolder / "results.md").write_text("\n".join(parts))
    results.to_csv(outputfolder / "results.csv", index=False)
    if figure:
        plot_noisy_summary(results, methods, settings, outputfolder / "results.png")


VIEW_TITLES = {"none": "no augmentation", "shift": "a random shift of up to one pixel",
               "crop_flip": "a random crop and flip (CIFAR's)"}


def write_views_summary(outputfolder, views):
    """One results.md and results.csv over the per-view folders `<outputfolder>/<view>/` ({view: methods}):
    each view's tables under its own heading, so that every table compares methods under one view, and every
    run in results.csv with its view."""
    outputfolder = Path(outputfolder)
    parts = ["# Learning with noisy labels: every method under the views it runs with", "",
             "Each view is a table of its own: a method is compared with another only under the same training view.", ""]
    tables = []
    for view, methods in views.items():
        results_md = (outputfolder / view / "results.md").read_text().splitlines()
        body = [line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in results_md[1:]]
        parts += [f"## View: {view} ({VIEW_TITLES.get(view, view)})", *body, ""]
        tables.append(pd.read_csv(outputfolder / view / "results.csv").assign(view=view))
    (outputfolder / "results.md").write_text("\n".join(parts))
    pd.concat(tables, ignore_index=True)[["view", *COLUMNS]].to_csv(outputfolder / "results.csv", index=False)


def plot_noisy_summary(results, methods, settings, path):
    """Last-epoch accuracy per setting, a bar per method (mean, std over seeds as error bars)."""
    figure = Figure(figsize=(max(6.0, 1.1 * len(settings) * max(1, len(methods)) / 2), 3.8), layout="constrained")
    axes = figure.add_subplot()
    x = np.arange(len(settings))
    width = 0.8 / max(1, len(methods))
    for offset, method in enumerate(methods):
        values = [results.loc[(results["method"] == method) & (results["setting"] == s), "last_acc"] * 100 for s in settings]
        means = [v.mean() if len(v) else np.nan for v in values]
        stds = [v.std(ddof=0) if len(v) else 0.0 for v in values]
        axes.bar(x + (offset - (len(methods) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=method)
    axes.set_xticks(x, settings, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("clean test accuracy (%), last epoch")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8)
    figure.savefig(path, dpi=100, metadata={"Software": None})


def plot_weights(weights, aum, is_noisy, path, title=""):
    """weights.png: the distributions of the final HMW weights (if any) and of AUM, clean vs mislabelled."""
    panels = [("final HMW weight", weights), ("AUM (mean raw-logit margin)", aum)]
    panels = [(label, np.asarray(values, dtype=np.float64)) for label, values in panels if np.isfinite(values).any()]
    figure = Figure(figsize=(5 * len(panels), 3.4), layout="constrained")
    figure.suptitle(title, fontsize=10)
    for index, (label, values) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        bins = np.linspace(np.nanmin(values), np.nanmax(values) + 1e-12, 41)
        for mask, name, colour in ((~is_noisy, "clean", "tab:blue"), (is_noisy, "mislabelled", "tab:red")):
            if mask.any():
                axes.hist(values[mask], bins=bins, alpha=0.6, label=f"{name} ({mask.sum()})", color=colour)
        axes.set_xlabel(label)
        axes.set_ylabel("training samples")
        axes.legend(fontsize=8)
    figure.savefig(path, dpi=100, metadata={"Software": None})
