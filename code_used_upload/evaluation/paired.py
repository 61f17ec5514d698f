"""Paired comparison of a baseline and its LDM variant on one test fold: is LDM's gain real?

The two models of a pair are scored on the same test records and on the same bootstrap resamples
(the experiment's `test_bootstrap_ids.npy` is shared by every model of a task), so the difference
of their macro-AUCs on each resample cancels the luck of which records were drawn. Two separate
te_results intervals each carry that luck and mostly overlap even when one model wins on nearly
every resample; the interval of the per-resample differences does not.

Over seeds (a seed is one training run of each model, paired by seed number), the effect is the
mean of the per-seed test-fold deltas with its std over seeds (ddof=0, as the table), and the
interval is the 5% / 95% quantiles (numpy's default linear interpolation, as the benchmark) of the
per-resample deltas averaged over the seeds. AUCs follow `metrics.evaluate`: labels without a
positive and a negative in the test fold are left out, and a label absent from a resample is
left out of that resample's mean.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from .metrics import _check_labels, _weighted_label_aucs

BETTER, WORSE, UNCLEAR = "better", "worse", "unclear"


@dataclass(frozen=True)
class PairedDelta:
    """LDM minus baseline over the common seeds; label arrays are over all labels, NaN where undefined."""

    delta: float                # mean over seeds of the test-fold macro-AUC delta
    delta_std: float            # std over seeds of that delta (ddof=0)
    lower: float                # 5% quantile of the seed-averaged per-resample deltas
    upper: float                # 95% quantile
    p_not_better: float         # fraction of resamples whose seed-averaged delta is <= 0
    verdict: str                # better / worse / unclear, from lower and upper
    seed_deltas: np.ndarray     # (seeds,) test-fold delta per seed
    resample_deltas: np.ndarray  # (resamples,) per-resample delta averaged over seeds
    baseline_label_auc: np.ndarray  # (labels,) test-fold AUC per label, mean over seeds
    ldm_label_auc: np.ndarray       # (labels,)


def verdict(lower, upper):
    """`better` when even the 5% quantile of the delta is above 0, `worse` when even the 95% one is
    below 0, else `unclear`: a one-sided 5% test either way on the same resamples."""
    if lower > 0:
        return BETTER
    if upper < 0:
        return WORSE
    return UNCLEAR


def resample_weights(bootstrap_ids, n_records):
    """(1 + resamples, records) row weights: the whole test fold once, then each resample's row counts."""
    bootstrap_ids = np.asarray(bootstrap_ids)
    if bootstrap_ids.ndim != 2 or bootstrap_ids.size == 0 or bootstrap_ids.min() < 0 \
            or bootstrap_ids.max() >= n_records:
        raise UserError(f"bootstrap ids of shape {bootstrap_ids.shape} do not index the {n_records} test records")
    counts = [np.bincount(ids, minlength=n_records) for ids in bootstrap_ids]
    return np.vstack([np.ones(n_records), *counts])


def _label_aucs(y_true, y_pred, weights, scorable):
    """(weightings, labels) AUCs; NaN for labels not scorable on the test fold or absent from a weighting."""
    aucs = np.full((len(weights), y_true.shape[1]), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):  # a label absent from a resample: NaN
        aucs[:, scorable] = _weighted_label_aucs(y_true[:, scorable], y_pred[:, scorable], weights)
    return aucs


def _check_predictions(predictions_by_seed, shape, name):
    """A (seeds, records, labels) float array, or a UserError saying which seed's shape is wrong."""
    predictions = [np.asarray(p, dtype=np.float64) for p in predictions_by_seed]
    for index, prediction in enumerate(predictions):
        if prediction.shape != shape:
            raise UserError(f"{name} predictions #{index} have shape {prediction.shape}, labels have {shape}")
    return np.stack(predictions)


def paired_delta(y_true, pred_baseline_by_seed, pred_ldm_by_seed, bootstrap_ids):
    """The effect of LDM: predictions per seed, paired by position (the i-th baseline seed goes with the
    i-th LDM seed), scored on the test fold and on every resample of `bootstrap_ids` (resamples, records)."""
    y_true, scorable = _check_labels(y_true)
    if len(pred_baseline_by_seed) != len(pred_ldm_by_seed) or len(pred_ldm_by_seed) == 0:
        raise UserError(f"a paired comparison needs as many baseline as LDM seeds, at least one; got "
                        f"{len(pred_baseline_by_seed)} and {len(pred_ldm_by_seed)}")
    baseline = _check_predictions(pred_baseline_by_seed, y_true.shape, "baseline")
    ldm = _check_predictions(pred_ldm_by_seed, y_true.shape, "LDM")
    weights = resample_weights(bootstrap_ids, len(y_true))
    # (seeds, 1 + resamples, labels); the NaN pattern depends on y_true and the weights only, so both
    # models of a pair average over the same labels in every resample
    baseline_aucs = np.stack([_label_aucs(y_true, p, weights, scorable) for p in baseline])
    ldm_aucs = np.stack([_label_aucs(y_true, p, weights, scorable) for p in ldm])
    deltas = np.nanmean(ldm_aucs, axis=2) - np.nanmean(baseline_aucs, axis=2)  # (seeds, 1 + resamples)
    seed_deltas, resample_deltas = deltas[:, 0], deltas[:, 1:].mean(axis=0)
    lower, upper = float(np.quantile(resample_deltas, 0.05)), float(np.quantile(resample_deltas, 0.95))
    return PairedDelta(
        delta=float(seed_deltas.mean()),
        delta_std=float(np.std(seed_deltas)),
        lower=lower,
        upper=upper,
        p_not_better=float(np.mean(resample_deltas <= 0)),
        verdict=verdict(lower, upper),
        seed_deltas=seed_deltas,
        resample_deltas=resample_deltas,
        baseline_label_auc=baseline_aucs[:, 0].mean(axis=0),
        ldm_label_auc=ldm_aucs[:, 0].mean(axis=0),
    )
