"""Test-set evaluation as the PTB-XL benchmark does it: macro-AUC plus a bootstrap of the test rows; on
the same resamples, the Fmax its paper reports but its code does not compute, and macro-AUPRC (see FMAX_THRESHOLDS).

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
from sklearn.metrics import average_precision_score, roc_auc_score

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


def _weights_by_score(y_true, scores, weights):
    """(positive, negative) row weight at each distinct score of one label, scores ascending: two (R, G)
    arrays from 0/1 labels (N,), scores (N,) and row weights (R, N). One sort per label serves every
    weighting, so a bootstrap's resamples are all scored at once."""
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ordered = weights[:, order]
    pos = ordered * y_true[order].astype(bool)
    if len(group_starts) < len(scores):  # ties: one group per distinct score
        ordered, pos = (np.add.reduceat(w, group_starts, axis=1) for w in (ordered, pos))
    return pos, ordered - pos


def _weighted_label_aucs(y_true, y_pred, weights):
    """AUC of every label under each row-weight vector: (R, L) from weights (R, N).

    In every weighting a positive counts the negative weight below its score plus half the negative
    weight at its score.
    """
    weights = np.asarray(weights, dtype=np.float64)
    aucs = np.empty((len(weights), y_true.shape[1]))
    for label in range(y_true.shape[1]):
        pos, neg = _weights_by_score(y_true[:, label], y_pred[:, label], weights)
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
    return _with_interval(macro_auc(y_true, y_pred), resampled)


def _with_interval(point, resampled):
    """te_results' four values of a metric: the point value on all test rows, and the mean and the 5% / 95%
    quantiles (numpy's linear interpolation, pandas' default in the benchmark) over the resamples."""
    return {"point": float(point), "mean": float(np.mean(resampled)),
            "lower": float(np.quantile(resampled, 0.05)), "upper": float(np.quantile(resampled, 0.95))}


# Fmax and macro-AUPRC, reported beside macro-AUC in every te_results.csv (after it). Fmax is the
# sample-centric maximum F-score that Strodthoff et al. (IEEE JBHI 2021) report beside
# macro-AUC, as CAFA defines it for protein function prediction (Radivojac et al., Nature Methods 2013):
# at a threshold t a record's predicted labels are those scored >= t; precision(t) is the mean over the
# records with at least one predicted label of TP / predicted, recall(t) the mean over the records of
# TP / their labels; Fmax is the maximum over t = 0.00, 0.01, ..., 1.00 of their harmonic mean. The
# benchmark's code never computed it; its authors choose t on the test fold itself (their answer in
# helme/ecg_ptbxl_benchmarking#38), so it is an optimistic figure, and it is kept so to be comparable
# with the paper's (0.764 for xresnet1d101 on all statements, reproduced from the benchmark's predictions).
FMAX_THRESHOLDS = np.arange(101) / 100  # 0.00 ... 1.00, each the double nearest its decimal
FMAX_AUPRC = ("fmax", "macro_auprc")  # their columns in te_results.csv, after macro_auc


def _per_record_precision_recall(y_true, y_pred):
    """Per record and threshold of FMAX_THRESHOLDS: precision (0 where nothing is predicted), whether any
    label is predicted, and recall: three (N, T) arrays; and (N,) whether the record has a label at all.

    A label is predicted at the thresholds up to its score, so one count per label (how many thresholds
    its score reaches) gives, summed from the top threshold down, every record's counts at every threshold.
    """
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred, dtype=np.float64)
    n, n_thresholds = len(y_true), len(FMAX_THRESHOLDS)
    reached = np.searchsorted(FMAX_THRESHOLDS, y_pred, side="right")  # thresholds <= each score
    flat = (np.arange(n)[:, None] * (n_thresholds + 1) + reached).ravel()

    def at_each_threshold(weights):
        counts = np.bincount(flat, weights.ravel(), minlength=n * (n_thresholds + 1)).reshape(n, -1)
        return np.cumsum(counts[:, ::-1], axis=1)[:, ::-1][:, 1:]  # labels reaching threshold k: count > k

    predicted, hits = at_each_threshold(np.ones(y_true.shape)), at_each_threshold(y_true.astype(np.float64))
    labels = y_true.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(labels[:, None] > 0, hits / labels[:, None], 0.0)
    return precision, predicted > 0, recall, labels > 0


def _weighted_fmax(y_true, y_pred, weights):
    """Fmax under each row-weight vector (R,) from weights (R, N): precision and recall are weighted means
    over the records, so a resample's row counts give its Fmax without copying its rows.

    A record without any label has no recall and is left out of recall's mean (CAFA's mean runs over the
    annotated proteins); its predicted labels count as false positives in precision. A threshold at which
    no record has a predicted label has no precision; its F is 0 (its recall is 0 too).
    """
    precision, predicted, recall, labelled = _per_record_precision_recall(y_true, y_pred)
    if not labelled.any():
        raise UserError(f"none of the {len(labelled)} records has a label, so Fmax's recall is undefined; "
                        "evaluate labelled records")
    weights = np.asarray(weights, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_precision = np.nan_to_num((weights @ precision) / (weights @ predicted))
        mean_recall = (weights[:, labelled] @ recall[labelled]) / weights[:, labelled].sum(axis=1, keepdims=True)
        f = np.nan_to_num(2 * mean_precision * mean_recall / (mean_precision + mean_recall))
    return f.max(axis=1)


def fmax(y_true, y_pred):
    """The benchmark paper's sample-centric Fmax of (records, labels) 0/1 labels and scores, its threshold
    chosen on these same records (see FMAX_THRESHOLDS above for the definition)."""
    y_true, y_pred = _same_shape(y_true, y_pred)
    return float(_weighted_fmax(y_true, y_pred, np.ones((1, len(y_true))))[0])


def _weighted_label_average_precisions(y_true, y_pred, weights):
    """Average precision of every label under each row-weight vector: (R, L) from weights (R, N); NaN where
    a weighting leaves a label without a positive or a negative (left out, as the AUC is).

    sklearn's average_precision_score: the sum over the distinct scores, from the highest down, of the
    recall gained there times the precision of everything scored at least that high (ties taken together).
    Recall is gained only at scores that positives have, so the precision is taken there alone (most labels
    are rare: a fraction of the scores).
    """
    weights = np.asarray(weights, dtype=np.float64)
    precisions = np.empty((len(weights), y_true.shape[1]))
    for label in range(y_true.shape[1]):
        pos, neg = _weights_by_score(y_true[:, label], y_pred[:, label], weights)
        pos, neg = pos[:, ::-1], neg[:, ::-1]  # highest score first
        gained = pos.any(axis=0)
        tp, scored = np.cumsum(pos, axis=1)[:, gained], np.cumsum(pos + neg, axis=1)[:, gained]  # weight >= score
        precision_at = tp / np.maximum(scored, np.finfo(np.float64).tiny)  # 0 where nothing weighs: no gain there
        positives, negatives = pos.sum(axis=1), neg.sum(axis=1)
        defined = (positives > 0) & (negatives > 0)  # as for the AUC: a positive and a negative
        with np.errstate(invalid="ignore", divide="ignore"):
            precisions[:, label] = np.where(defined, (pos[:, gained] * precision_at).sum(axis=1) / positives, np.nan)
    return precisions


def macro_auprc(y_true, y_pred):
    """Mean over labels of sklearn's average_precision_score (the area under the precision-recall curve as
    a step sum), over the labels whose macro-AUC is defined here: those without a positive (or a negative)
    among these records are left out, with the same warning, as `macro_auc` leaves them out."""
    y_true, y_pred = _same_shape(y_true, y_pred)
    y_true, scorable = _check_labels(y_true)
    return float(average_precision_score(y_true[:, scorable], y_pred[:, scorable], average="macro"))


def _same_shape(y_true, y_pred):
    """Fmax's and macro-AUPRC's inputs checked: the same (records, labels) shape, at least one record, 0/1
    labels and probabilities (scores in 0..1: Fmax's thresholds are probabilities)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 2 or y_pred.shape != y_true.shape or not y_true.size:
        raise UserError(f"predictions of shape {y_pred.shape} and labels of shape {y_true.shape}: both must be the "
                        "same (records, labels) matrix, with at least one record")
    if not np.isin(y_true, (0, 1)).all():
        raise UserError("labels must be 0 or 1 (multi-hot), one row per record")
    if not (np.isfinite(y_pred).all() and 0 <= y_pred.min() and y_pred.max() <= 1):
        raise UserError(f"predictions must be probabilities in 0..1 (a sigmoid's; these run {np.nanmin(y_pred):g} to "
                        f"{np.nanmax(y_pred):g}{', with NaN' if np.isnan(y_pred).any() else ''})")
    return y_true, y_pred


def evaluate_fmax_auprc(y_true, y_pred, bootstrap_ids):
    """{fmax, macro_auprc}, each {point, mean, lower, upper} over the resamples `bootstrap_ids` (R, N) as
    `evaluate` reports macro-AUC (the same resamples). Fmax is taken over all labels (it is a per-record
    score); macro-AUPRC over the labels macro-AUC keeps, a label absent from a resample left out of that
    resample's mean. Each resample's values equal fmax / macro_auprc of its rows."""
    y_true, y_pred = _same_shape(y_true, y_pred)
    counts = resample_counts(bootstrap_ids, len(y_true))
    resampled_fmax = _weighted_fmax(y_true, y_pred, counts)
    labels, scorable = _check_labels(y_true)
    labels, scores = labels[:, scorable], y_pred[:, scorable]
    with np.errstate(invalid="ignore", divide="ignore"):  # a label absent from a resample: NaN, left out
        resampled_auprc = np.nanmean(_weighted_label_average_precisions(labels, scores, counts), axis=1)
    return {"fmax": _with_interval(fmax(y_true, y_pred), resampled_fmax),
            "macro_auprc": _with_interval(macro_auprc(labels, scores), resampled_auprc)}


def write_te_results(path, result, challenge=None, fmax_auprc=None):
    """The benchmark's te_results.csv: index point/mean/lower/upper, one column macro_auc; with the
    challenge's scores (`evaluate_challenge`'s dict; ICBEB 2018), the columns F_beta_macro and
    G_beta_macro before it, in the benchmark's order; with `evaluate_fmax_auprc`'s dict, the columns
    fmax and macro_auprc after it (the benchmark has no code for them)."""
    columns = {**(challenge or {}), "macro_auc": result, **(fmax_auprc or {})}
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
    return {name: _with_interval(point[name], values) for name, values in resampled.items()}


def evaluate_with_thresholds(y_train, y_train_pred, y_test, y_test_pred, bootstrap_ids):
    """(evaluate_challenge's scores, the thresholds): the benchmark's evaluation of `exp_ICBEB` beside
    macro-AUC, per-class thresholds that maximise G_beta=2 on the training predictions, the test
    predictions binarised with them, scored on all test records and on the resamples `bootstrap_ids`."""
    thresholds = find_optimal_cutoff_thresholds_for_Gbeta(y_train, y_train_pred)
    return evaluate_challenge(y_test, apply_thresholds(y_test_pred, thresholds), bootstrap_ids), thresholds
