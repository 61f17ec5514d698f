"""Synthetic label noise: the authors' counts and maps, CIFAR-100's block rule, seeding, refusals."""
import numpy as np
import pytest

from code_used_upload.data.noise import noisy_labels
from code_used_upload.errors import UserError

N = 50_000


def balanced(num_classes, n=N, seed=0):
    return np.random.default_rng(seed).permutation(np.arange(n) % num_classes)


@pytest.mark.parametrize("num_classes, rate", [(10, 0.2), (10, 0.8), (100, 0.5), (100, 0.9)])
def test_sym_relabels_exactly_int_r_n_samples_uniformly_over_all_classes(num_classes, rate):
    labels = balanced(num_classes)
    noisy, is_noisy = noisy_labels(labels, num_classes, "sym", rate, seed=1)
    assert noisy.dtype == np.int64 and is_noisy.dtype == bool
    np.testing.assert_array_equal(is_noisy, noisy != labels)
    # int(r N) draws, each keeping the true class with probability 1 / C
    expected_wrong = int(rate * N) * (num_classes - 1) / num_classes
    spread = 4 * np.sqrt(int(rate * N) / num_classes)
    assert abs(is_noisy.sum() - expected_wrong) < spread
    counts = np.bincount(noisy[is_noisy], minlength=num_classes)
    assert counts.min() > 0.8 * counts.mean()  # the wrong labels land on every class


def test_sym_relabels_a_subset_of_exactly_int_r_n():
    """With a million classes a redraw almost never hits the true class: exactly int(r N) labels move."""
    labels = np.zeros(1001, dtype=np.int64)
    rate = 0.29  # 0.29 * 1001 = 290.29 -> 290
    _, is_noisy = noisy_labels(labels, 1_000_000, "sym", rate, seed=3)
    assert is_noisy.sum() == 290
    everything, _ = noisy_labels(labels, 10, "sym", 1.0, seed=3)
    assert (everything != labels).mean() > 0.85  # rate 1 redraws every label: about 90% wrong


def test_cifar10_asym_is_the_authors_map_on_int_r_n_samples():
    labels = balanced(10)
    rate = 0.4
    noisy, is_noisy = noisy_labels(labels, 10, "asym", rate, seed=2)
    flips = {2: 0, 4: 7, 9: 1, 3: 5, 5: 3}
    for clean in range(10):
        moved = noisy[(labels == clean) & is_noisy]
        assert set(moved) <= {flips.get(clean, clean)}
        if clean not in flips:
            assert len(moved) == 0
        else:  # each class's share of the int(r N) chosen samples
            assert abs(len(moved) - rate * N / 10) < 4 * np.sqrt(rate * N / 10)
    # half the classes have a flip: about r / 2 of a balanced set ends up wrong
    assert abs(is_noisy.mean() - rate / 2) < 0.01


def test_cifar10_asym_moves_at_most_int_r_n_samples_even_if_all_could_flip():
    labels = np.full(1000, 2)  # every sample a bird: every chosen one flips to airplane
    noisy, is_noisy = noisy_labels(labels, 10, "asym", 0.3, seed=0)
    assert is_noisy.sum() == 300 and set(noisy[is_noisy]) == {0}


@pytest.mark.parametrize("rate", [0.2, 0.4])
def test_cifar100_asym_moves_each_sample_to_the_next_class_in_its_block_of_five(rate):
    labels = balanced(100)
    noisy, is_noisy = noisy_labels(labels, 100, "asym", rate, seed=5)
    expected_next = (labels + 1) % 5 + 5 * (labels // 5)
    np.testing.assert_array_equal(noisy[is_noisy], expected_next[is_noisy])
    assert set(noisy[(labels == 95) & is_noisy]) == {96}
    assert set(noisy[(labels == 99) & is_noisy]) == {95}  # the block's last class wraps to its first
    assert abs(is_noisy.mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / N)  # independent coins


def test_other_class_counts_divisible_by_five_use_the_block_rule_and_others_are_refused():
    labels = balanced(20, n=2000)
    noisy, is_noisy = noisy_labels(labels, 20, "asym", 0.5, seed=0)
    np.testing.assert_array_equal(noisy[is_noisy], ((labels + 1) % 5 + 5 * (labels // 5))[is_noisy])
    with pytest.raises(UserError, match="asym noise is defined for 10 classes"):
        noisy_labels(balanced(7, n=70), 7, "asym", 0.5, seed=0)


@pytest.mark.parametrize("mode, num_classes", [("sym", 10), ("asym", 10), ("asym", 100)])
def test_same_seed_same_labels_different_seed_different(mode, num_classes):
    labels = balanced(num_classes, n=5000)
    first, _ = noisy_labels(labels, num_classes, mode, 0.5, seed=7)
    again, _ = noisy_labels(labels, num_classes, mode, 0.5, seed=7)
    other, _ = noisy_labels(labels, num_classes, mode, 0.5, seed=8)
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()
    np.testing.assert_array_equal(labels, balanced(num_classes, n=5000))  # the clean labels are not touched


def test_rate_zero_is_clean():
    labels = balanced(10, n=500)
    for mode in ("sym", "asym"):
        noisy, is_noisy = noisy_labels(labels, 10, mode, 0.0, seed=0)
        np.testing.assert_array_equal(noisy, labels)
        assert not is_noisy.any()


def test_none_changes_no_label_for_any_number_of_classes():
    """A user's own images with their labels as they are: 7 classes, which asym would refuse."""
    labels = balanced(7, n=500)
    noisy, is_noisy = noisy_labels(labels, 7, "none", 0.0, seed=0)
    np.testing.assert_array_equal(noisy, labels)
    assert noisy is not labels and noisy.dtype == np.int64 and is_noisy.dtype == bool and not is_noisy.any()


@pytest.mark.parametrize("mode, rate, seed, message", [
    ("pairflip", 0.2, 0, "noise mode 'pairflip'"),
    ("sym", 1.5, 0, "noise rate 1.5"),
    ("sym", -0.1, 0, "noise rate -0.1"),
    ("sym", 0.2, None, "needs a seed"),
])
def test_bad_settings_are_user_errors(mode, rate, seed, message):
    with pytest.raises(UserError, match=message):
        noisy_labels(balanced(10, n=100), 10, mode, rate, seed)


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(UserError, match="0..9"):
        noisy_labels(np.array([0, 3, 10]), 10, "sym", 0.5, seed=0)
