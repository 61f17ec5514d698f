"""UniCon and HMW + UniCon against the authors' golden outputs (the reference's verify.py), and the parts of
the selection that the golden files do not pin down: the fixed uniform selection's edge cases (the
authors' D2), the threshold's d_u branch, and the refusal of a selection rate of 0 (D7)."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from code_used_upload.errors import UserError
from code_used_upload.models.unicon import noisy_label_jsd, selection_threshold, uniform_selection

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "unicon"


def test_the_visible_golden_passes_verify():
    golden = REFERENCE / "golden_visible.npz"
    if not golden.is_file():
        pytest.fail(f"{golden} is needed by this test: place the project's shared data beside the repository.")
    result = subprocess.run([sys.executable, str(REFERENCE / "verify.py"), str(golden)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def selection_case():
    """12 samples of 4 classes: class 0 has 5, class 1 has 4, class 2 has 2, class 3 one, with tied JSDs."""
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3, 1, 0, 2, 0, 1])
    jsd = torch.tensor([0.3, 0.2, 0.1, 0.6, 0.2, 0.3, 0.5, 0.1, 0.4, 0.05, 0.3, 0.6])
    return jsd, labels


def test_uniform_selection_takes_the_quota_per_class_without_repeats():
    jsd, labels = selection_case()
    labelled, unlabelled = uniform_selection(jsd, labels, 4, selection_rate=1.0)   # quota int(12 / 4) = 3
    counts = torch.bincount(labels, minlength=4)
    assert len(labelled) == int(torch.clamp(counts, max=3).sum()) == 9
    assert len(torch.unique(labelled)) == len(labelled)
    assert torch.equal(torch.sort(torch.cat([labelled, unlabelled])).values, torch.arange(12))
    # class 0: JSD 0.1 (2), then 0.3 at samples 0, 5, 10: the tie goes to the smaller indices 0 and 5
    assert set(labelled[labels[labelled] == 0].tolist()) == {2, 0, 5}
    assert set(labelled[labels[labelled] == 1].tolist()) == {7, 1, 4}
    # a class below its quota gives all its samples; a one-sample class gives its sample once (D2)
    assert set(labelled[labels[labelled] == 2].tolist()) == {3, 9}
    assert labelled[labels[labelled] == 3].tolist() == [6]


def test_uniform_selection_quota_is_computed_from_the_rate_in_float64():
    # count 25,070 of 50,000 with 10 classes: int(0.5014 * 50000 / 10) = 2,506, not 25,070 // 10
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(50_000) % 10
    jsd = torch.rand(50_000, generator=generator)
    labelled, unlabelled = uniform_selection(jsd, labels, 10, 25_070 / 50_000)
    assert len(labelled) == 25_060 and len(unlabelled) == 50_000 - 25_060


def test_a_class_without_samples_contributes_nothing():
    jsd, labels = selection_case()
    labelled, _ = uniform_selection(jsd, labels, 6, selection_rate=1.0)   # classes 4 and 5 empty, quota 2
    assert len(labelled) == 2 + 2 + 2 + 1


def test_threshold_moves_towards_the_minimum_above_d_u():
    jsd = torch.tensor([0.125, 0.375, 0.5, 1.0])      # mean 0.5, every value exact in binary
    assert selection_threshold(jsd) == (0.5, 0.5)      # strictly below: 0.5 itself is not counted
    assert selection_threshold(jsd, d_u=0.5) == (0.5, 0.5)          # the mean must exceed d_u
    assert selection_threshold(jsd, d_u=0.4, tau=2.0) == (0.5 - (0.5 - 0.125) / 2, 0.25)


def test_a_selection_rate_of_zero_is_refused():
    logits = torch.zeros(6, 3)       # collapsed networks: every JSD equal
    with pytest.raises(UserError, match="selection rate 0"):
        selection_threshold(noisy_label_jsd(logits, logits, torch.tensor([0, 1, 2, 0, 1, 2])))
    with pytest.raises(UserError, match="selection rate 0"):
        selection_threshold(torch.full((4,), float("nan")))
