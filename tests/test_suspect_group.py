"""label_issues.csv's flag (reports/suspect_group.py) on scores whose truth is known: a group of wrong labels
apart from the clean mode is flagged, one skewed clean mode is not, nor a group the network agrees with."""
import numpy as np
import pytest

from code_used_upload.reports.suspect_group import suspect_group

CLEAN, WRONG = 1600, 400


def clean_weights(rng, size):
    """HMW's weights of clean labels: one mode near 0.75 with a long tail toward 0 (a beta(6, 2))."""
    return rng.beta(6, 2, size)


def test_a_group_of_wrong_labels_apart_from_the_clean_mode_is_flagged():
    rng = np.random.default_rng(0)
    scores = np.concatenate([clean_weights(rng, CLEAN), rng.uniform(0.0, 0.1, WRONG)])
    wrong = np.arange(CLEAN + WRONG) >= CLEAN
    disagrees = wrong & (rng.random(CLEAN + WRONG) < 0.95) | (rng.random(CLEAN + WRONG) < 0.02)
    flagged = suspect_group(scores, disagrees)
    assert 0.9 * WRONG <= flagged.sum() <= 1.1 * WRONG and (flagged & wrong).sum() >= 0.9 * WRONG
    # AUM's scale: the same group, whatever the scores' unit and offset
    np.testing.assert_array_equal(suspect_group(12 * scores - 5, disagrees), flagged)


def test_one_skewed_clean_mode_flags_nothing():
    scores = clean_weights(np.random.default_rng(0), CLEAN)
    disagrees = np.zeros(CLEAN, dtype=bool)
    disagrees[np.argsort(scores)[:40]] = True  # the network gets the 40 hardest images wrong
    assert not suspect_group(scores, disagrees).any()


def test_a_group_the_network_agrees_with_is_not_flagged():
    """A network that learned the wrong labels predicts them: the low group is not one of wrong labels."""
    rng = np.random.default_rng(0)
    scores = np.concatenate([clean_weights(rng, CLEAN), rng.uniform(0.0, 0.1, WRONG)])
    assert not suspect_group(scores, np.zeros(CLEAN + WRONG, dtype=bool)).any()


def test_constant_scores_have_no_group_and_bad_input_is_refused():
    assert not suspect_group(np.full(10, 0.8), np.ones(10, dtype=bool)).any()
    with pytest.raises(ValueError, match="one finite score"):
        suspect_group([0.1, np.nan], [True, False])
    with pytest.raises(ValueError, match="one finite score"):
        suspect_group([0.1, 0.2], [True])
