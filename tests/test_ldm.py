"""The Label Decoupling Module: golden losses of the reference, the vectorised head against a loop of modules."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from code_used_upload.models.ldm import (
    LabelDecouplingHead,
    ldm_loss,
    per_label_dropout,
    triplet_semihard_loss,
    triplet_semihard_losses,
)

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "ldm_loss_golden.npz"


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is needed by this test: place the project's shared data beside the repository.")
    return np.load(GOLDEN)


@pytest.mark.parametrize("case", range(4))
def test_losses_match_the_reference_outputs(golden, case):
    logits, y, feats = (torch.from_numpy(golden[f"case{case}_{k}"]) for k in ("logits", "y", "feats"))
    assert y[:, 1].sum() == 0  # the degenerate label (no positive in the batch) is part of every case
    per_label = triplet_semihard_losses(y.T, feats, margin=2.0).double().numpy()
    np.testing.assert_allclose(per_label, golden[f"case{case}_per_label"], rtol=1e-5)
    total = ldm_loss(logits, feats, y, alpha=1.0, gamma=0.1, margin=2.0).item()
    np.testing.assert_allclose(total, golden[f"case{case}_total"], rtol=1e-5)
    single = [triplet_semihard_loss(y[:, l], feats[l], margin=2.0).item() for l in range(y.shape[1])]
    np.testing.assert_allclose(single, golden[f"case{case}_per_label"], rtol=1e-5)


def semihard_by_definition(labels, embeddings, margin):
    """FaceNet semi-hard mining written out pair by pair (tfa's semantics), O(B^3): the test's yardstick."""
    B = len(labels)
    d = ((embeddings[:, None] - embeddings[None]) ** 2).sum(-1)
    hinges = []
    for a in range(B):
        negatives = [d[a, k] for k in range(B) if labels[k] != labels[a]]
        for p in range(B):
            if p == a or labels[p] != labels[a]:
                continue
            farther = [v for v in negatives if v > d[a, p]]
            if farther:
                n = torch.stack(farther).min()
            elif negatives:
                n = torch.stack(negatives).max()
            else:
                n = torch.zeros((), dtype=d.dtype)
            hinges.append((margin + d[a, p] - n).clamp_min(0))
    return torch.stack(hinges).sum() / len(hinges)


@pytest.mark.parametrize("positives", [0, 1, 3, 6])
def test_semihard_loss_and_gradient_follow_the_definition(positives):
    torch.manual_seed(positives)
    labels = torch.zeros(12)
    labels[torch.randperm(12)[:positives]] = 1
    emb = F.normalize(torch.randn(12, 8, dtype=torch.float64), dim=-1)
    ours = emb.clone().float().requires_grad_()
    ref = emb.clone().requires_grad_()
    loss = triplet_semihard_loss(labels, ours, margin=0.5)
    expected = semihard_by_definition(labels, ref, margin=0.5)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.grad.double(), ref.grad, rtol=1e-4, atol=1e-5)


def test_a_label_without_negatives_hinges_every_pair_against_zero():
    """tfa without negatives: the 'negative' distance is 0, so the loss is margin + mean positive distance."""
    emb = F.normalize(torch.randn(10, 8), dim=-1)
    d = torch.cdist(emb, emb) ** 2
    expected = 2.0 + d[~torch.eye(10, dtype=torch.bool)].mean()
    torch.testing.assert_close(triplet_semihard_loss(torch.ones(10), emb, margin=2.0), expected)


def loop_of_modules(head):
    """The reference's structure: one nn.Sequential per label holding the vectorised head's weights."""
    L, D, Fe = head.weight1.shape
    branches = []
    for l in range(L):
        first = nn.Sequential(nn.BatchNorm1d(Fe), nn.Dropout(0.0), nn.Linear(Fe, D))
        second = nn.Sequential(nn.BatchNorm1d(D), nn.Dropout(0.0), nn.Linear(D, 1))
        with torch.no_grad():
            first[0].weight.copy_(head.scale1[l])
            first[0].bias.copy_(head.shift1[l])
            first[2].weight.copy_(head.weight1[l])
            first[2].bias.copy_(head.bias1[l])
            second[0].weight.copy_(head.norm2.weight[l * D : (l + 1) * D])
            second[0].bias.copy_(head.norm2.bias[l * D : (l + 1) * D])
            second[2].weight.copy_(head.weight2[l : l + 1])
            second[2].bias.copy_(head.bias2[l : l + 1])
        branches.append(nn.ModuleList([first, second]))
    gate = nn.Linear(L, L)
    with torch.no_grad():
        gate.weight.copy_(head.gate_weight)
        gate.bias.copy_(head.gate_bias)
    branches = nn.ModuleList(branches)

    def forward(x):
        e = head.shared(x)
        embeddings, label_logits = [], []
        for first, second in branches:
            z = first(x)
            embeddings.append(F.normalize(z, dim=-1))
            label_logits.append(second(z))
        w = torch.sigmoid(gate(torch.ones_like(e)))
        return w * e + (1 - w) * torch.cat(label_logits, dim=1), torch.stack(embeddings)

    return forward, branches


def test_vectorised_head_equals_a_loop_of_per_label_modules():
    torch.manual_seed(0)
    head = LabelDecouplingHead(24, 5)
    with torch.no_grad():  # non-trivial affine parameters, so that each label's slice matters
        for p in (head.scale1, head.shift1, head.bias1, head.bias2, head.gate_bias, head.norm2.weight, head.norm2.bias):
            p.normal_()
    head.dropout1 = head.dropout2 = 0.0  # same (no) masks on both sides
    head.shared.apply(lambda m: setattr(m, "p", 0.0) if isinstance(m, nn.Dropout) else None)
    loop, branches = loop_of_modules(head)
    x = torch.randn(16, 24) * 3 + 1
    head.train()
    branches.train()
    shared_state = {k: v.clone() for k, v in head.shared.state_dict().items()}
    logits, embeddings = head(x)
    head.shared.load_state_dict(shared_state)  # the loop runs the same shared head: same statistics update
    loop_logits, loop_embeddings = loop(x)
    torch.testing.assert_close(logits, loop_logits)
    torch.testing.assert_close(embeddings, loop_embeddings)
    # eval mode uses the running statistics that both updated in the training pass
    head.eval()
    branches.eval()
    x = torch.randn(7, 24)
    with torch.no_grad():
        torch.testing.assert_close(head(x), loop(x)[0])


def test_dropout_masks_are_drawn_independently_per_label():
    """Labels with identical weights give identical embeddings without dropout, different ones with it."""
    torch.manual_seed(0)
    head = LabelDecouplingHead(64, 6).train()
    with torch.no_grad():
        head.weight1.copy_(head.weight1[:1].expand_as(head.weight1))
    x = torch.randn(32, 64)
    head.dropout1 = 0.0
    _, same = head(x)
    torch.testing.assert_close(same, same[:1].expand_as(same))
    head.dropout1 = 0.25
    _, dropped = head(x)
    assert not torch.allclose(dropped[0], dropped[1])


def test_per_label_dropout_has_nn_dropouts_distribution():
    torch.manual_seed(0)
    out = per_label_dropout(torch.ones(200_000), 0.25, training=True)
    assert abs((out == 0).float().mean().item() - 0.25) < 0.005  # 5 standard deviations
    torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 1 / 0.75))
    x = torch.randn(10)
    assert per_label_dropout(x, 0.25, training=False) is x
