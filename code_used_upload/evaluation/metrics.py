"""Test-set evaluation as the PTB-XL benchmark does it: macro-AUC plus a bootstrap of the test rows.

The benchmark (helme/ecg_ptbxl_benchmarking, `utils.evaluate_experiment` and
`get_appropriate_bootstrap_samples`) scores a model by the mean of the per-label ROC AUCs, and
reports the point value on the whole test fold with the mean and the 5% / 95% quantiles (pandas'
default linear interpolation) over 100 resamples of the test rows, redrawing any resample in which
a label has no positive. The bootstrap here computes every resample at once from one sort per label:
a resample is a vector of row counts, and the AUC of weighted rows with ties counted half is exactly
the area sklearn's ROC curve gives, so the numbers agree with sklearn's to rounding error.
"""

import contextlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..errors import UserError

TE_RESULTS_INDEX = ["point", "mean", "lower", "upper"]


class UndefinedLabelWarning(UserWarning):
    """Labels without a positive and a negative among the evaluated records: left out of the macro-AUC."""


@contextlib.contextmanager
def undefined_labels_said_elsewhere():
    """Silence UndefinedLabelWarning where the run has already said it once for the task (the grid says
    it when it prepares a task; every cell, the naive row and the reports evaluate the same folds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedLabelWarning)
        yield


def undefined_labels(y_true):
    """Indices of the label columns whose AUC is undefined on these records (one class only)."""
    positives = np.asarray(y_true).sum(axis=0)
    return np.flatnonzero((positives == 0) | (positives == len(y_true))).tolist()


def _check_labels(y_true):
    """A (records, labels) matrix, reduced to the labels whose AUC is defined on these records.

    A label needs a positive and a negative among the evaluated records. On PTB-XL's test fold every
    label of every task has both, so this changes nothing there; on a small fold (the synthetic
    demo) the labels without both are left out of the macro-AUC, with a warning that names them.
    """
    y_true = np.asarray(y_true)
    if y_true.ndim != 2:
        raise UserError(f"y_true must be a (records, labels) matrix, got shape {y_true.shape}")
    undefined = undefined_labels(y_true)
    scorable = np.ones(y_true.shape[1], dtype=bool)
    scorable[undefined] = False
    if not scorable.any():
        raise UserError(f"no label has both a positive and a negative among the {len(y_true)} test records, "
                        "so no ROC AUC is defined; use a larger test fold")
    if undefined:
        warnings.warn(f"label column(s) {undefined} have only one class among the "
                      f"{len(y_true)} test records: their AUC is undefined and they are left out of the macro-AUC",
                      UndefinedLabelWarning, stacklevel=3)
    return y_true, scorable


def _weighted_label_aucs(y_true, y_pred, weights):
    """AUC of every label under each row-weight vector: (R, L) from weights (R, N).

    Per label the rows are sorted once and grouped by equal score; in every weighting a positive
    counts the negative weight below its score plus half the negative weight at its score.
    """
    weights = np.asarray(weights, dtype=np.float64)
    aucs = np.empty((len(weights), y_true.shape[1]))
    for label in range(y_true.shape[1]):
        order = np.argsort(y_pred[:, label], kind="mergesort")
        scores = y_pred[order, label]
        group_starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
        is_pos = y_true[order, label].astype(bool)
        pos = np.add.reduceat(weights[:, order] * is_pos, group_starts, axis=1)
        neg = np.add.reduceat(weights[:, order] * ~is_pos, group_starts, axis=1)
        neg_below = np.cumsum(neg, axis=1) - neg
        wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
        aucs[:, label] = wins / (pos.sum(axis=1) * neg.sum(axis=1))
    return aucs


def macro_auc(y_true, y_pred):
    """Mean of the per-label ROC AUCs, as sklearn's roc_auc_score(average='macro') in the benchmark."""
    y_true, scorable = _check_labels(y_true)
    return float(roc_auc_score(y_true[:, scorable], np.asarray(y_pred)[:, scorable], average="macro"))


def draw_bootstrap_ids(y_true, n_bootstrap=100, seed=0, max_tries_per_sample=100):
    """(n_bootstrap, N) row indices drawn with replacement; resamples lacking a positive are redrawn.

    That is the benchmark's rule, and on PTB-XL's test fold it is met within a few tries. A test
    fold too small for it (a label with one or two positives) would loop for ever in the benchmark;
    here, after `max_tries_per_sample` tries per resample, the rule is dropped with a warning, and
    each resample's macro-AUC is then taken over the labels defined in it (see `evaluate`).
    """
    y_true, scorable = _check_labels(y_true)
    y_true = y_true[:, scorable]
    rng = np.random.default_rng(seed)
    n = len(y_true)
    samples, tries = [], 0
    while len(samples) < n_bootstrap:
        tries += 1
        ids = rng.integers(0, n, n)
        if tries > max_tries_per_sample * n_bootstrap:
            warnings.warn(f"the {n} test records are too few for resamples in which every label has a positive; "
                          "the bootstrap's macro-AUCs are over the labels defined in each resample", stacklevel=2)
            samples.extend(rng.integers(0, n, (n_bootstrap - len(samples), n)))
        elif y_true[ids].sum(axis=0).min() > 0:
            samples.append(ids)
    return np.stack(samples)


def evaluate(y_true, y_pred, bootstrap_ids=None, n_bootstrap=100, seed=0):
    """Point macro-AUC and the bootstrap's mean, 5% and 95% quantiles (the benchmark's te_results)."""
    y_true, scorable = _check_labels(y_true)
    y_pred = np.asarray(y_pred)
    if y_pred.shape != y_true.shape:
        raise UserError(f"predictions have shape {y_pred.shape} but labels have shape {y_true.shape}")
    y_true, y_pred = y_true[:, scorable], y_pred[:, scorable]
    if bootstrap_ids is None:
        bootstrap_ids = draw_bootstrap_ids(y_true, n_bootstrap, seed)
    bootstrap_ids = np.asarray(bootstrap_ids)
    if bootstrap_ids.ndim != 2 or bootstrap_ids.max() >= len(y_true) or bootstrap_ids.min() < 0:
        raise UserError(
            f"bootstrap ids of shape {bootstrap_ids.shape} do not index the {len(y_true)} test records; "
            "delete the experiment's test_bootstrap_ids.npy to have it drawn again"
        )
    counts = np.stack([np.bincount(ids, minlength=len(y_true)) for ids in bootstrap_ids])
    with np.errstate(invalid="ignore", divide="ignore"):  # a label absent from a resample: NaN, left out
        resampled = np.nanmean(_weighted_label_aucs(y_true, y_pred, counts), axis=1)
    return {
        "point": macro_auc(y_true, y_pred),
        "mean": float(resampled.mean()),
        "lower": float(np.quantile(resampled, 0.05)),
        "upper": float(np.quantile(resampled, 0.95)),
    }


def write_te_results(path, result):
    """The benchmark's te_results.csv: index point/mean/lower/upper, one column macro_auc."""
    frame = pd.DataFrame({"macro_auc": [result[key] for key in TE_RESULTS_INDEX]}, index=TE_RESULTS_INDEX)
    frame.to_csv(path)


def read_te_results(path):
    """{point, mean, lower, upper} from a te_results.csv written by the benchmark or by this code."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; run the cell's evaluation first")
    column = pd.read_csv(path, index_col=0).get("macro_auc")
    if column is None or not set(TE_RESULTS_INDEX) <= set(column.index):
        raise UserError(f"{path} is not a te_results.csv (needs rows {TE_RESULTS_INDEX}, column macro_auc)")
    return {key: float(column[key]) for key in TE_RESULTS_INDEX}


def per_label_auc(y_true, y_pred, classes):
    """One row per label: its test AUC (NaN when the test fold lacks positives or negatives) and positives."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    positives = y_true.sum(axis=0).astype(int)
    aucs = [
        roc_auc_score(y_true[:, i], y_pred[:, i]) if 0 < positives[i] < len(y_true) else np.nan
        for i in range(y_true.shape[1])
    ]
    return pd.DataFrame({"label": list(classes), "auc": aucs, "positives": positives})
