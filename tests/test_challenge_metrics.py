"""ICBEB's challenge metrics against the benchmark's own values, the bootstrap against a loop, the edge cases."""

from pathlib import Path

import numpy as np
import pytest

from code_used_upload.errors import UserError
from code_used_upload.evaluation.metrics import (
    apply_thresholds,
    challenge_metrics,
    draw_bootstrap_ids,
    evaluate_challenge,
    find_optimal_cutoff_thresholds_for_Gbeta,
    macro_auc,
)

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "icbeb" / "challenge_metrics_golden.npz"


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as stored:
        return dict(stored)


def test_golden_thresholds_binary_predictions_and_scores(golden):
    thresholds = find_optimal_cutoff_thresholds_for_Gbeta(golden["y_train"], golden["y_train_pred"])
    np.testing.assert_array_equal(thresholds, golden["thresholds"])
    binary = apply_thresholds(golden["y_test_pred"], thresholds)
    np.testing.assert_array_equal(binary, golden["y_test_binary"])
    assert (~(golden["y_test_pred"] > thresholds).any(axis=1)).sum() == 74  # rows that took the argmax fallback
    scores = challenge_metrics(golden["y_test"], binary)
    assert scores["F_beta_macro"] == pytest.approx(golden["F_beta_macro"], abs=1e-12)
    assert scores["G_beta_macro"] == pytest.approx(golden["G_beta_macro"], abs=1e-12)
    assert macro_auc(golden["y_test"], golden["y_test_pred"]) == pytest.approx(golden["macro_auc"], abs=1e-12)


def test_records_weighted_by_their_number_of_labels():
    y_true = np.array([[1, 1], [1, 0]])
    y_pred = np.array([[1, 0], [0, 1]])
    # class 0: TP 1/2, FN 1; class 1: FN 1/2, FP 1, no TP
    scores = challenge_metrics(y_true, y_pred)
    assert scores["F_beta_macro"] == pytest.approx((5 * 0.5 / (5 * 0.5 + 4 * 1) + 0) / 2, abs=1e-15)
    assert scores["G_beta_macro"] == pytest.approx((0.5 / (0.5 + 2 * 1) + 0) / 2, abs=1e-15)
    assert challenge_metrics(y_true, y_pred, beta1=1, beta2=1)["G_beta_macro"] == pytest.approx(0.5 / 1.5 / 2, abs=1e-15)


def test_bootstrap_equals_a_loop_over_resamples(golden):
    y_true, binary = golden["y_test"], golden["y_test_binary"]
    ids = draw_bootstrap_ids(y_true, n_bootstrap=100, seed=0)
    result = evaluate_challenge(y_true, binary, ids)
    for name in ("F_beta_macro", "G_beta_macro"):
        per_resample = np.array([challenge_metrics(y_true[i], binary[i])[name] for i in ids])
        assert result[name]["point"] == challenge_metrics(y_true, binary)[name]
        assert result[name]["mean"] == pytest.approx(per_resample.mean(), abs=1e-12)
        assert result[name]["lower"] == pytest.approx(np.quantile(per_resample, 0.05), abs=1e-12)
        assert result[name]["upper"] == pytest.approx(np.quantile(per_resample, 0.95), abs=1e-12)
        assert result[name]["lower"] < result[name]["point"] < result[name]["upper"]


def test_argmax_fallback_takes_the_first_highest_score():
    scores = np.array([[0.1, 0.3, 0.3], [0.9, 0.2, 0.8], [0.1, 0.2, 0.05]])
    binary = apply_thresholds(scores, np.array([0.5, 0.5, 0.5]))
    np.testing.assert_array_equal(binary, [[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    assert binary.dtype.kind == "i"


def test_threshold_is_the_first_of_the_grid_that_maximises_g_beta():
    y_true = np.array([[1], [1], [0], [0], [0]])
    scores = np.array([[0.6], [0.6], [0.2], [0.2], [0.2]])  # every t in [0.2, 0.6) separates them perfectly
    assert find_optimal_cutoff_thresholds_for_Gbeta(y_true, scores)[0] == np.linspace(0, 1, 100)[20]  # 20/99


def test_undefined_scores_are_refused_as_the_benchmark_stops():
    y_true = np.array([[1, 0], [1, 0], [0, 1]])
    with pytest.raises(UserError, match=r"class column\(s\) \[1\] have no positive and no predicted positive.*ZeroDivisionError"):
        challenge_metrics(y_true[:2], np.array([[1, 0], [1, 0]]))
    with pytest.raises(UserError, match=r"records \[1\] .* have no label"):
        challenge_metrics(np.array([[1, 0], [0, 0]]), np.array([[1, 0], [0, 1]]))
    with pytest.raises(UserError, match="other than 0 and 1"):
        challenge_metrics(y_true, np.full(y_true.shape, 0.7))
    with pytest.raises(UserError, match=r"records of class column 1 at threshold\(s\) \[0\.505, 0\.515"):
        find_optimal_cutoff_thresholds_for_Gbeta(y_true[:2], np.full((2, 2), 0.5))
    with pytest.raises(UserError, match=r"class column\(s\) \[1\] in bootstrap resample\(s\) \[1\]"):
        evaluate_challenge(y_true, np.array([[1, 0], [1, 0], [0, 1]]), np.array([[0, 1, 2], [0, 1, 1]]))
    with pytest.raises(UserError, match="do not index the 3 test records"):
        evaluate_challenge(y_true, y_true, np.array([[0, 1, 3]]))
