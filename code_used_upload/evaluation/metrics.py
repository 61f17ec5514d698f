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


def resample_counts(bootstrap_ids, n_records):
    """(R, N) float64: how often each of the `n_records` rows occurs in each resample of `bootstrap_ids`
    (R, N): a resample as row weights, so that every resample is scored at once."""
    bootstrap_ids = np.asarray(bootstrap_ids)
    if (bootstrap_ids.ndim != 2 or not bootstrap_ids.size
            or not 0 <= bootstrap_ids.min() <= bootstrap_ids.max() < n_records):
        raise UserError(f"bootstrap ids of shape {bootstrap_ids.shape} do not index the {n_records} test records; "
                        "delete the experiment's test_bootstrap_ids.npy to have it drawn again")
    offsets = n_records * np.arange(len(bootstrap_ids))[:, None]
    counts = np.bincount((bootstrap_ids + offsets).ravel(), minlength=len(bootstrap_ids) * n_records)
    return counts.reshape(len(bootstrap_ids), n_records).astype(np.float64)


def evaluate(y_true, y_pred, bootstrap_ids=None, n_bootstrap=100, seed=0):
    """Point macro-AUC and the bootstrap's mean, 5% and 95% quantiles (the benchmark's te_results)."""
    y_true, scorable = _check_labels(y_true)
    y_pred = np.asarray(y_pred)
    if y_pred.shape != y_true.shape:
        raise UserError(f"predictions have shape {y_pred.shape} but labels have shape {y_true.shape}")
    y_true, y_pred = y_true[:, scorable], y_pred[:, scorable]
    if bootstrap_ids is None:
        bootstrap_ids = draw_bootstrap_ids(y_true, n_bootstrap, seed)
    counts = resample_counts(bootstrap_ids, len(y_true))
    with np.errstate(invalid="ignore", divide="ignore"):  # a label absent from a resample: NaN, left out
        resampled = np.nanmean(_weighted_label_aucs(y_true, y_pred, counts), axis=1)
    return {
        "point": macro_auc(y_true, y_pred),
        "mean": float(resampled.mean()),
        "lower": float(np.quantile(resampled, 0.05)),
        "upper": float(np.quantile(resampled, 0.95)),
    }


def write_te_results(path, result, challenge=None):
    """The benchmark's te_results.csv: index point/mean/lower/upper, one column macro_auc; with the
    challenge's scores (`evaluate_challenge`'s dict; ICBEB 2018), the columns F_beta_macro and
    G_beta_macro before it, in the benchmark's order."""
    columns = {**(challenge or {}), "macro_auc": result}
    frame = pd.DataFrame({name: [values[key] for key in TE_RESULTS_INDEX] for name, values in columns.items()},
                         index=TE_RESULTS_INDEX)
    frame.to_csv(path)


def read_te_results(path, metric="macro_auc"):
    """{point, mean, lower, upper} of the column `metric` (macro_auc, or F_beta_macro / G_beta_macro of an
    ICBEB cell) of a te_results.csv written by the benchmark or by this code."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; run the cell's evaluation first")
    column = pd.read_csv(path, index_col=0).get(metric)
    if column is None or not set(TE_RESULTS_INDEX) <= set(column.index):
        raise UserError(f"{path} is not a te_results.csv with {metric} (needs rows {TE_RESULTS_INDEX}, column {metric})")
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


# ICBEB 2018: the challenge metrics the benchmark reports beside macro-AUC (helme/ecg_ptbxl_benchmarking,
# `utils.challenge_metrics`, `find_optimal_cutoff_thresholds_for_Gbeta`, `apply_thresholds`). The
# benchmark fits one threshold per class on the training predictions, binarises the test predictions
# with them and scores F_beta=2 and G_beta=2 per class, each record weighted 1/(its number of labels).
CHALLENGE_THRESHOLDS = np.linspace(0, 1, 100)  # the benchmark's grid: steps of 1/99, not 0.01
CHALLENGE_METRICS = ("F_beta_macro", "G_beta_macro")  # their columns in te_results.csv, before macro_auc


def _check_challenge_labels(y_true, y_pred_binary):
    """Two (records, classes) 0/1 matrices of one shape, every record with a label."""
    y_true, y_pred_binary = np.asarray(y_true), np.asarray(y_pred_binary)
    if y_true.ndim != 2 or y_pred_binary.shape != y_true.shape:
        raise UserError(f"labels of shape {y_true.shape} and binary predictions of shape {y_pred_binary.shape}: "
                        "both must be the same (records, classes) matrix")
    for name, matrix in (("labels", y_true), ("binary predictions", y_pred_binary)):
        if not np.isin(matrix, (0, 1)).all():
            raise UserError(f"the {name} hold values other than 0 and 1; binarise scores with apply_thresholds first")
    unlabelled = np.flatnonzero(y_true.sum(axis=1) == 0)
    if unlabelled.size:
        raise UserError(f"records {unlabelled[:10].tolist()} ({unlabelled.size} in all) have no label: the challenge "
                        "metrics weight a record by 1/(its number of labels), which the benchmark leaves infinite "
                        "for them; evaluate labelled records only")
    return y_true.astype(bool), y_pred_binary.astype(bool)


def _challenge_counts(y_true, y_pred_binary, row_weights):
    """Weighted TP, FP and FN of every column under each row weighting: three (R, C) arrays from
    boolean (N, C) matrices and weights (R, N)."""
    return (row_weights @ (y_true & y_pred_binary), row_weights @ (~y_true & y_pred_binary),
            row_weights @ (y_true & ~y_pred_binary))


# where a class has no TP, FP or FN, F_beta and G_beta are 0/0: the benchmark stops there with
# ZeroDivisionError (its counts are still Python's 0.0), so here a UserError names the case
_UNDEFINED = ("have no positive and no predicted positive, so F_beta and G_beta are undefined (the benchmark "
              "stops with ZeroDivisionError there); use records where every class occurs")


def _f_g_beta(tp, fp, fn, beta1, beta2):
    """Per column F_beta = (1 + b1^2) TP / ((1 + b1^2) TP + FP + b1^2 FN) and G_beta = TP / (TP + FP + b2 FN)."""
    return (1 + beta1**2) * tp / ((1 + beta1**2) * tp + fp + beta1**2 * fn), tp / (tp + fp + beta2 * fn)


def _challenge_macro(y_true, y_pred_binary, counts, beta1, beta2):
    """F_beta and G_beta macro means (R,) under each row-count vector of `counts` (R, N)."""
    y_true, y_pred_binary = _check_challenge_labels(y_true, y_pred_binary)
    row_weights = counts / y_true.sum(axis=1)
    tp, fp, fn = _challenge_counts(y_true, y_pred_binary, row_weights)
    resample, column = np.nonzero(tp + fp + fn == 0)
    if column.size:
        where = f" in bootstrap resample(s) {np.unique(resample)[:10].tolist()}" if len(counts) > 1 else ""
        raise UserError(f"the records of class column(s) {np.unique(column).tolist()}{where} {_UNDEFINED}")
    f_beta, g_beta = _f_g_beta(tp, fp, fn, beta1, beta2)
    return f_beta.mean(axis=1), g_beta.mean(axis=1)


def challenge_metrics(y_true, y_pred_binary, beta1=2, beta2=2):
    """{F_beta_macro, G_beta_macro}: the means over classes of the per-class F_beta and G_beta, TP, FP
    and FN summed with each record weighted 1/(its number of labels), as the benchmark's
    `challenge_metrics`. A class without positive and predicted positive raises UserError (the
    benchmark: ZeroDivisionError); so does a record without a label (the benchmark: weight 1/0)."""
    f_beta, g_beta = _challenge_macro(y_true, y_pred_binary, np.ones((1, len(y_true))), beta1, beta2)
    return {"F_beta_macro": float(f_beta[0]), "G_beta_macro": float(g_beta[0])}


def find_optimal_cutoff_thresholds_for_Gbeta(y_true, y_prob):
    """(classes,) thresholds: per class, the first of linspace(0, 1, 100) that maximises G_beta=2 of
    that class alone with `y_prob > t` as its predictions and every record weighted 1 (the
    benchmark's `single=True`). All thresholds of a class are scored at once; its counts are whole
    numbers, so the G_beta values, and hence the ties, are exactly the benchmark's. A class that has
    no positive gets 0/0 at a threshold nothing exceeds: UserError (the benchmark: ZeroDivisionError)."""
    y_true, y_prob = np.asarray(y_true), np.asarray(y_prob)
    if y_true.ndim != 2 or y_prob.shape != y_true.shape:
        raise UserError(f"labels of shape {y_true.shape} and scores of shape {y_prob.shape}: both must be the same "
                        "(records, classes) matrix")
    ones = np.ones((1, len(y_true)))
    thresholds = np.empty(y_true.shape[1])
    for column in range(y_true.shape[1]):
        labels = np.repeat(y_true[:, [column]].astype(bool), len(CHALLENGE_THRESHOLDS), axis=1)
        tp, fp, fn = _challenge_counts(labels, y_prob[:, [column]] > CHALLENGE_THRESHOLDS, ones)
        undefined = CHALLENGE_THRESHOLDS[(tp + fp + fn)[0] == 0]
        if undefined.size:
            raise UserError(f"the {len(y_true)} records of class column {column} at threshold(s) "
                            f"{undefined[:5].round(3).tolist()} {_UNDEFINED}")
        thresholds[column] = CHALLENGE_THRESHOLDS[np.argmax(_f_g_beta(tp, fp, fn, 2, 2)[1][0])]
    return thresholds


def apply_thresholds(y_prob, thresholds):
    """Binary int predictions `y_prob > thresholds`; a record with no class above its threshold gets
    its highest-scoring class (the first, on ties), as the benchmark's `apply_thresholds`."""
    y_prob = np.asarray(y_prob)
    binary = (y_prob > np.asarray(thresholds)).astype(int)
    empty = np.flatnonzero(~binary.any(axis=1))
    binary[empty, np.argmax(y_prob[empty], axis=1)] = 1
    return binary


def evaluate_challenge(y_true, y_pred_binary, bootstrap_ids):
    """{F_beta_macro, G_beta_macro}, each {point, mean, lower, upper} as `evaluate` reports macro-AUC:
    the point value on all rows, the mean and the 5% / 95% quantiles (linear interpolation) over the
    resamples `bootstrap_ids` (R, N). Every resample is a vector of row counts, used as weights, so
    all are scored at once; each equals `challenge_metrics(y_true[ids], y_pred_binary[ids])`."""
    counts = resample_counts(bootstrap_ids, len(y_true))
    point = challenge_metrics(y_true, y_pred_binary)
    resampled = dict(zip(point, _challenge_macro(y_true, y_pred_binary, counts, 2, 2)))
    return {
        name: {"point": point[name], "mean": float(values.mean()),
               "lower": float(np.quantile(values, 0.05)), "upper": float(np.quantile(values, 0.95))}
        for name, values in resampled.items()
    }


def evaluate_with_thresholds(y_train, y_train_pred, y_test, y_test_pred, bootstrap_ids):
    """(evaluate_challenge's scores, the thresholds): the benchmark's evaluation of `exp_ICBEB` beside
    macro-AUC, per-class thresholds that maximise G_beta=2 on the training predictions, the test
    predictions binarised with them, scored on all test records and on the resamples `bootstrap_ids`."""
    thresholds = find_optimal_cutoff_thresholds_for_Gbeta(y_train, y_train_pred)
    return evaluate_challenge(y_test, apply_thresholds(y_test_pred, thresholds), bootstrap_ids), thresholds
