"""The evaluator against the benchmark's own numbers and against sklearn."""

import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from code_used_upload.errors import UserError
from code_used_upload.evaluation.metrics import (
    draw_bootstrap_ids,
    evaluate,
    evaluate_fmax_auprc,
    fmax,
    macro_auc,
    macro_auprc,
    per_label_auc,
    read_te_results,
    write_te_results,
)

EXP0 = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "exp0"


def test_golden_benchmark_evaluation():
    y = np.load(EXP0 / "y_test.npy")
    pred = np.load(EXP0 / "y_test_pred_xresnet1d101.npy")
    ids = np.load(EXP0 / "test_bootstrap_ids.npy")
    result = evaluate(y, pred, bootstrap_ids=ids)
    expected = {"point": 0.925436, "mean": 0.924870, "lower": 0.918523, "upper": 0.931485}
    assert {key: round(value, 6) for key, value in result.items()} == expected


def test_bootstrap_equals_sklearn_per_resample_with_ties():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 6)) < 0.2).astype(int)
    y[:3] = 1  # every label has positives
    y[3:6] = 0
    pred = np.round(rng.random((300, 6)) * 0.5 + 0.3 * y, 1)  # coarse scores: many ties
    ids = draw_bootstrap_ids(y, n_bootstrap=20, seed=3)
    per_resample = [roc_auc_score(y[i], pred[i], average="macro") for i in ids]
    result = evaluate(y, pred, bootstrap_ids=ids)
    assert result["mean"] == pytest.approx(np.mean(per_resample), abs=1e-12)
    assert result["lower"] == pytest.approx(np.quantile(per_resample, 0.05), abs=1e-12)
    assert result["upper"] == pytest.approx(np.quantile(per_resample, 0.95), abs=1e-12)
    assert result["point"] == pytest.approx(roc_auc_score(y, pred, average="macro"), abs=1e-12)


def test_bootstrap_redraws_resamples_without_positives():
    y = np.zeros((50, 2), dtype=int)
    y[0, 0] = 1  # one positive in 50 rows: about a third of plain resamples would miss it
    y[::2, 1] = 1
    ids = draw_bootstrap_ids(y, n_bootstrap=200, seed=7)
    assert ids.shape == (200, 50)
    assert ids.min() >= 0 and ids.max() < 50
    assert all(y[i].sum(axis=0).min() > 0 for i in ids)
    np.testing.assert_array_equal(ids, draw_bootstrap_ids(y, n_bootstrap=200, seed=7))
    assert not np.array_equal(ids, draw_bootstrap_ids(y, n_bootstrap=200, seed=8))


def test_labels_with_one_class_are_left_out_of_the_macro_auc_with_a_warning():
    rng = np.random.default_rng(0)
    y = np.stack([rng.integers(0, 2, 40), np.zeros(40, int), rng.integers(0, 2, 40), np.ones(40, int)], axis=1)
    y[:2, [0, 2]] = [[1, 1], [0, 0]]
    scores = rng.random(y.shape)
    with pytest.warns(UserWarning, match=r"\[1, 3\]"):
        point = macro_auc(y, scores)
    assert point == pytest.approx(roc_auc_score(y[:, [0, 2]], scores[:, [0, 2]], average="macro"))
    with pytest.warns(UserWarning):
        ids = draw_bootstrap_ids(y, n_bootstrap=20)
    assert all(y[i][:, [0, 2]].sum(axis=0).min() > 0 for i in ids)
    with pytest.warns(UserWarning):
        result = evaluate(y, scores, bootstrap_ids=ids)
    assert result["point"] == pytest.approx(point)


def test_no_scorable_label_is_a_user_error():
    y = np.array([[1, 0], [1, 0], [1, 0]])
    with pytest.raises(UserError, match="no label"):
        macro_auc(y, np.random.default_rng(0).random(y.shape))


def test_te_results_round_trip_and_benchmark_file(tmp_path):
    benchmark = read_te_results(EXP0 / "te_results_xresnet1d101.csv")
    assert round(benchmark["lower"], 6) == 0.918523
    path = tmp_path / "te_results.csv"
    write_te_results(path, benchmark)
    assert path.read_text() == (EXP0 / "te_results_xresnet1d101.csv").read_text()
    assert read_te_results(path) == benchmark


def test_per_label_auc_matches_sklearn_and_marks_undefined_labels():
    rng = np.random.default_rng(2)
    y = (rng.random((40, 4)) < 0.4).astype(int)
    y[:, 2] = 0  # no positive
    y[:, 3] = 1  # no negative
    y[0, :2] = [1, 0]
    y[1, :2] = [0, 1]
    pred = rng.random((40, 4))
    table = per_label_auc(y, pred, ["A", "B", "C", "D"])
    assert list(table.columns) == ["label", "auc", "positives"]
    assert list(table["label"]) == ["A", "B", "C", "D"]
    assert list(table["positives"]) == [int(y[:, i].sum()) for i in range(4)]
    for i in range(2):
        assert table["auc"][i] == pytest.approx(roc_auc_score(y[:, i], pred[:, i]), abs=1e-15)
    assert table["auc"][2:].isna().all()


def test_a_test_fold_too_small_for_the_redraw_rule_still_gets_a_bootstrap():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, (30, 4))
    y[:, 3] = 0
    y[0, 3] = 1  # one positive: a third of the resamples miss it, so the benchmark's rule gives up
    scores = rng.random(y.shape)
    with pytest.warns(UserWarning, match="too few"):
        ids = draw_bootstrap_ids(y, n_bootstrap=50, seed=1, max_tries_per_sample=1)
    assert ids.shape == (50, 30)
    assert any(y[i, 3].sum() == 0 for i in ids)
    result = evaluate(y, scores, bootstrap_ids=ids)
    defined = [[label for label in range(4) if 0 < y[i, label].sum() < 30] for i in ids]
    per_resample = [roc_auc_score(y[i][:, labels], scores[i][:, labels], average="macro")
                    for i, labels in zip(ids, defined)]
    assert result["mean"] == pytest.approx(np.mean(per_resample), rel=1e-12)
    assert result["lower"] == pytest.approx(np.quantile(per_resample, 0.05), rel=1e-12)


# Fmax and macro-AUPRC: the paper's figure from the benchmark's own predictions, and a straightforward
# computation of each definition, record by record and threshold by threshold, on other predictions

def reference_fmax(y, scores):
    """The definition as written: a record's labels scored >= t are predicted; precision over the records
    with a prediction, recall over the records with a label; the best harmonic mean over t = 0.00 .. 1.00."""
    truth, best = y.astype(bool), 0.0
    for t in [k / 100 for k in range(101)]:
        predicted = scores >= t
        hits, chosen, labels = (predicted & truth).sum(axis=1), predicted.sum(axis=1), truth.sum(axis=1)
        precision = np.mean(hits[chosen > 0] / chosen[chosen > 0]) if chosen.any() else 0.0
        recall = np.mean(hits[labels > 0] / labels[labels > 0])
        if precision + recall > 0:
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def reference_average_precision(truth, scores):
    """Area under the step precision-recall curve: at each distinct score from the highest down, the recall
    gained times the precision of all records scored at least that high."""
    area, recall_before = 0.0, 0.0
    for threshold in sorted(set(scores), reverse=True):
        chosen = scores >= threshold
        recall = (chosen & truth).sum() / truth.sum()
        area += (recall - recall_before) * (chosen & truth).sum() / chosen.sum()
        recall_before = recall
    return area


def reference_macro_auprc(y, scores):
    """Mean over the labels with a positive and a negative among these records."""
    return np.mean([reference_average_precision(y[:, label].astype(bool), scores[:, label])
                    for label in range(y.shape[1]) if 0 < y[:, label].sum() < len(y)])


def test_fmax_reproduces_the_papers_0764_for_xresnet1d101_on_all_statements():
    y = np.load(EXP0 / "y_test.npy")
    pred = np.load(EXP0 / "y_test_pred_xresnet1d101.npy")
    assert round(fmax(y, pred), 3) == 0.764  # Strodthoff et al. 2021, Table II, all statements, xresnet1d101


def test_fmax_and_macro_auprc_match_a_straightforward_computation_on_every_resample():
    rng = np.random.default_rng(4)
    y = (rng.random((120, 5)) < 0.3).astype(int)
    y[:, 4] = 0  # a label without a positive: left out of macro-AUPRC, its predictions still count in Fmax
    y[5] = 0  # a record without a label: no recall, its predictions are false positives
    scores = np.round(np.clip(rng.random(y.shape) * 0.7 + 0.35 * y, 0, 1), 2)  # on the threshold grid: ties
    with pytest.warns(UserWarning, match=r"\[4\]"):
        assert macro_auprc(y, scores) == pytest.approx(reference_macro_auprc(y, scores), abs=1e-12)
    assert fmax(y, scores) == pytest.approx(reference_fmax(y, scores), abs=1e-12)
    assert fmax([[1, 0]], [[0.0, 0.0]]) == pytest.approx(2 / 3)  # a score equal to t is predicted at t (> t: 0)

    ids = np.random.default_rng(5).integers(0, len(y), (20, len(y)))
    with pytest.warns(UserWarning):
        result = evaluate_fmax_auprc(y, scores, ids)
    per_resample = {"fmax": [reference_fmax(y[i], scores[i]) for i in ids],
                    "macro_auprc": [reference_macro_auprc(y[i], scores[i]) for i in ids]}
    for metric, values in per_resample.items():
        assert result[metric]["mean"] == pytest.approx(np.mean(values), abs=1e-12), metric
        assert result[metric]["lower"] == pytest.approx(np.quantile(values, 0.05), abs=1e-12), metric
        assert result[metric]["upper"] == pytest.approx(np.quantile(values, 0.95), abs=1e-12), metric


@pytest.mark.parametrize("labels, predictions, said", [
    ([[1, 0], [0, 1]], [[np.nan, 0.2], [0.3, 0.4]], "with NaN"),  # Fmax took NaN as 'predict everything': 0.44
    ([[1, 0], [0, 1]], [[2.5, -1.0], [0.3, 0.4]], "probabilities in 0..1"),  # logits: Fmax 0.0 without a word
    ([[0.5, 0], [0, 1]], [[0.9, 0.2], [0.3, 0.4]], "labels must be 0 or 1"),
    (np.zeros((0, 2)), np.zeros((0, 2)), "at least one record"),
    ([1, 0], [0.9, 0.2], "the same (records, labels) matrix"),
])
def test_fmax_and_macro_auprc_refuse_what_is_not_labels_and_probabilities(labels, predictions, said):
    for metric in (fmax, macro_auprc):
        with pytest.raises(UserError, match=re.escape(said)):
            metric(np.asarray(labels), np.asarray(predictions))
