"""The HMW head against the authors' own outputs (all 16 flag combinations, every call), its O(N) state,
resuming from a state_dict, and its float32 weights under bf16 autocast."""
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from code_used_upload.errors import UserError
from code_used_upload.models.hmw import HMWHead

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "hmw" / "hmw_golden.npz"


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is needed by this test: place the project's shared data beside the repository.")
    with np.load(GOLDEN) as archive:
        arrays = dict(archive)
    return arrays, json.loads(str(arrays["meta"]))


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def make_head(meta, case, **overrides):
    head = HMWHead(meta["feat_dim"], meta["num_classes"], meta["train_size"], meta["train_epoch"],
                   alpha=meta["alpha"], beta=meta["beta"], top_rate=case["top_rate"], if_aum=bool(case["if_aum"]),
                   if_anneal=bool(case["if_anneal"]), if_spherical=bool(case["if_spherical"]), **overrides)
    return head


def golden_head(arrays, meta, case):
    head = make_head(meta, case)
    head.weight.data.copy_(torch.from_numpy(arrays["W"]))
    return head


def call_inputs(arrays, k):
    return (torch.from_numpy(arrays[f"call{k}/feat"]), torch.from_numpy(arrays[f"call{k}/labels"]),
            torch.from_numpy(arrays[f"call{k}/idx"]), int(arrays[f"call{k}/epoch"]))


def anneal_factors(epochs, last):
    """The authors' B_j = softmax_j(1 + cos(pi j / T)) over j = 0..last."""
    raw = np.array([1 + math.cos(math.pi * j / epochs) for j in range(last + 1)])
    return np.exp(raw) / np.exp(raw).sum()


def test_every_case_and_call_matches_the_authors_head(golden):
    arrays, meta = golden
    assert len(meta["cases"]) == 16
    for case in meta["cases"]:
        head = golden_head(arrays, meta, case)
        assert head.top_k == case["top_k"]
        for k in range(meta["n_calls"]):
            logits, weights = head(*call_inputs(arrays, k))
            assert weights.dtype == torch.float32 and weights.shape == arrays[f"call{k}/idx"].shape
            assert not weights.requires_grad
            assert np.abs(logits.detach().numpy() - arrays[f"call{k}/logits"]).max() <= 1e-5, (case["name"], k)
            for key in ("weights", "weights_f32"):
                expected = arrays[f"{case['name']}/call{k}/{key}"]
                assert np.abs(weights.numpy() - expected).max() <= 1e-5, (case["name"], k, key)
        memory = arrays[f"{case['name']}/memory"].astype(np.float64)
        last = int(arrays[f"call{meta['n_calls'] - 1}/epoch"])
        integrated = head.integrated_weights(last).numpy()
        if case["if_anneal"]:
            expected = (anneal_factors(meta["train_epoch"], last)[:, None] * memory[: last + 1]).sum(0)
        else:
            expected = memory[last]
        assert np.abs(integrated - expected).max() <= 1e-5, case["name"]


def test_integrated_weights_in_the_middle_of_an_epoch_count_unseen_samples_as_zero(golden):
    arrays, meta = golden
    case = next(c for c in meta["cases"] if c["name"] == "aum1_anneal1_sph1_top0.01")
    head = golden_head(arrays, meta, case)
    assert torch.equal(head.integrated_weights(0), torch.zeros(meta["train_size"]))
    calls = [k for k in range(meta["n_calls"]) if int(arrays[f"call{k}/epoch"]) <= 1][:-1]  # epoch 1 minus its last batch
    for k in calls:
        head(*call_inputs(arrays, k))
    unseen = torch.from_numpy(arrays[f"call{calls[-1] + 1}/idx"])
    memory = arrays[f"{case['name']}/memory"].astype(np.float64)
    expected = anneal_factors(meta["train_epoch"], 1)[0] * memory[0, unseen.numpy()]  # epoch 1's entry still 0
    assert np.abs(head.integrated_weights(1)[unseen].numpy() - expected).max() <= 1e-5


def test_a_resumed_head_continues_with_the_same_weights(golden):
    arrays, meta = golden
    case = next(c for c in meta["cases"] if c["name"] == "aum1_anneal1_sph1_top0.3")
    head = golden_head(arrays, meta, case)
    half = meta["n_calls"] // 2
    for k in range(half):
        head(*call_inputs(arrays, k))
    saved = io.BytesIO()
    torch.save(head.state_dict(), saved)
    saved.seek(0)
    resumed = make_head(meta, case)  # a fresh weight and empty memory, replaced by the saved state
    resumed.load_state_dict(torch.load(saved))
    for k in range(half, meta["n_calls"]):
        _, expected = head(*call_inputs(arrays, k))
        _, weights = resumed(*call_inputs(arrays, k))
        assert torch.equal(weights, expected)
        assert np.abs(weights.numpy() - arrays[f"{case['name']}/call{k}/weights"]).max() <= 1e-5


def test_bf16_autocast_changes_neither_logits_nor_weights(golden):
    arrays, meta = golden
    case = next(c for c in meta["cases"] if c["name"] == "aum1_anneal1_sph0_top0.01")
    plain, autocast = golden_head(arrays, meta, case), golden_head(arrays, meta, case)
    for k in range(meta["n_calls"]):
        logits, weights = plain(*call_inputs(arrays, k))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cast_logits, cast_weights = autocast(*call_inputs(arrays, k))
        assert cast_logits.dtype == torch.float32 and cast_weights.dtype == torch.float32
        assert torch.equal(cast_logits, logits)
        assert np.abs(cast_weights.numpy() - weights.numpy()).max() <= 1e-5
        assert np.abs(cast_weights.numpy() - arrays[f"{case['name']}/call{k}/weights"]).max() <= 1e-5


def test_evaluation_returns_raw_logits_and_the_ablation_unnormalised_ones(golden):
    arrays, meta = golden
    case = meta["cases"][-1]
    head = golden_head(arrays, meta, case)
    features, labels, index, epoch = call_inputs(arrays, 0)
    z = features @ torch.from_numpy(arrays["W"]).T
    torch.testing.assert_close(head(features), z, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(head(features), torch.nn.functional.normalize(z, dim=-1))
    raw = make_head(meta, case, normalize_logits=False)
    raw.weight.data.copy_(torch.from_numpy(arrays["W"]))
    logits, weights = raw(features, labels, index, epoch)
    torch.testing.assert_close(logits, z, rtol=1e-5, atol=1e-6)
    _, normalised_weights = head(features, labels, index, epoch)
    assert torch.equal(weights, normalised_weights)  # the switch touches the logits only


def test_gradients_reach_the_classifier_through_the_logits_only(golden):
    arrays, meta = golden
    head = golden_head(arrays, meta, meta["cases"][-1])
    features, labels, index, epoch = call_inputs(arrays, 0)
    features.requires_grad_()
    logits, weights = head(features, labels, index, epoch)
    torch.nn.functional.cross_entropy(logits, labels).backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    assert features.grad.abs().sum() > 0 and weights.grad_fn is None


def test_the_state_is_O_of_N_whatever_the_number_of_epochs():
    for epochs in (2, 1000):
        head = HMWHead(16, 10, train_size=500, epochs=epochs)
        state = {name: t for name, t in head.state_dict().items() if name != "weight"}
        assert sum(t.numel() for t in state.values()) == 2 * 500
        assert state["weighted_sum"].dtype == torch.float64


def test_the_default_top_rate_compares_with_the_second_nearest_class():
    assert HMWHead(8, 10, 4, 2).top_k == 1 and HMWHead(8, 100, 4, 2).top_k == 1
    assert HMWHead(8, 10, 4, 2, top_rate=0.3).top_k == 2 and HMWHead(8, 100, 4, 2, top_rate=0.1).top_k == 9


def test_bad_settings_and_calls_are_refused():
    with pytest.raises(UserError, match="at least 3 classes"):
        HMWHead(8, 2, 4, 2)
    with pytest.raises(UserError, match="top_rate"):
        HMWHead(8, 10, 4, 2, top_rate=0.0)
    head = HMWHead(8, 10, 4, epochs=2)
    features, labels, index = torch.randn(4, 8), torch.arange(4), torch.arange(4)
    with pytest.raises(ValueError, match="epoch 2 is outside"):
        head(features, labels, index, 2)
    with pytest.raises(ValueError, match="needs labels, index"):
        head(features, labels)
