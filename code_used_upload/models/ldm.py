"""The Label Decoupling Module (Zhang et al., KBS 2023): a head for any backbone, and its loss.

Head: the backbone's own head (the benchmark head for the paper's six) gives shared logits e; one small branch per label gives an 8-d embedding z_l
and a logit d_l; a learned per-label gate w mixes them: w * e + (1 - w) * d. All L branches run at once
on stacked weights. Loss: BCE on the mixed logits + gamma * mean over labels of a semi-hard triplet loss
on each label's normalised embeddings, with the binary label as class.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from .heads import HEAD_DROPOUT, benchmark_head

EMBEDDING_DIM = 8


class LabelDecouplingHead(nn.Module):
    """features (B, F) -> logits (B, L); in training mode also the L2-normalised embeddings (L, B, 8).

    `shared` is the backbone's own classifier (features -> L logits): the benchmark head by default.

    Per label l (as the reference's loop of modules): BN(F), Dropout 0.25, Linear(F -> 8) = z_l;
    BN(8), Dropout 0.5, Linear(8 -> 1) = d_l. The L BatchNorms over F all see the same input, so their
    batch and running statistics are identical: one affine-free BN(F) plus per-label scale and shift is the
    same computation. The L BatchNorms over 8 are one BN over the (B, L * 8) view.
    """

    def __init__(self, in_features, num_classes, shared=None, embedding_dim=EMBEDDING_DIM):
        super().__init__()
        L, Fe, D = num_classes, in_features, embedding_dim
        self.shared = benchmark_head(in_features, num_classes) if shared is None else shared
        self.norm1 = nn.BatchNorm1d(Fe, affine=False)
        self.scale1 = nn.Parameter(torch.ones(L, Fe))
        self.shift1 = nn.Parameter(torch.zeros(L, Fe))
        self.weight1 = nn.Parameter(torch.empty(L, D, Fe))
        self.bias1 = nn.Parameter(torch.zeros(L, D))
        self.norm2 = nn.BatchNorm1d(L * D)
        self.weight2 = nn.Parameter(torch.empty(L, D))
        self.bias2 = nn.Parameter(torch.zeros(L))
        # the reference's gate: sigmoid(Linear(L, L)(ones)), i.e. sigmoid(W @ 1 + b), one weight per label
        self.gate_weight = nn.Parameter(torch.empty(L, L))
        self.gate_bias = nn.Parameter(torch.zeros(L))
        self.dropout1, self.dropout2 = HEAD_DROPOUT
        self.init_like_reference()

    def init_like_reference(self):
        """Each label's Linear initialised as its own nn.Linear would be by the reference's weight_init."""
        with torch.no_grad():
            self.scale1.fill_(1.0)
            self.shift1.zero_()
            self.weight1.normal_(0.0, math.sqrt(2.0 / self.weight1.shape[-1]))
            self.bias1.zero_()
            self.weight2.normal_(0.0, math.sqrt(2.0 / self.weight2.shape[-1]))
            self.bias2.zero_()
            nn.init.kaiming_normal_(self.gate_weight)
            self.gate_bias.zero_()

    def forward(self, x):
        B, L = x.shape[0], self.weight1.shape[0]
        shared_logits = self.shared(x)
        h = torch.addcmul(self.shift1.unsqueeze(1), self.norm1(x).unsqueeze(0), self.scale1.unsqueeze(1))  # (L, B, F)
        h = per_label_dropout(h, self.dropout1, self.training)
        z = torch.baddbmm(self.bias1.unsqueeze(1), h, self.weight1.transpose(1, 2))  # (L, B, 8)
        u = self.norm2(z.transpose(0, 1).reshape(B, -1)).view(B, L, -1)
        u = F.dropout(u, self.dropout2, self.training)
        label_logits = (u * self.weight2).sum(-1) + self.bias2  # (B, L)
        gate = torch.sigmoid(self.gate_weight.sum(1) + self.gate_bias)
        logits = gate * shared_logits + (1 - gate) * label_logits
        if self.training:
            return logits, F.normalize(z, dim=-1)
        return logits


def per_label_dropout(x, p, training):
    """nn.Dropout's distribution (keep with probability 1 - p, scale 1 / (1 - p)), with the mask drawn by
    torch.rand: on CPU about twice as fast as F.dropout's bernoulli_ for the (L, B, F) tensor."""
    if not training or p == 0:
        return x
    return x * ((torch.rand_like(x) >= p) * (1.0 / (1.0 - p)))


def _pairwise_squared_distances(embeddings):
    """(L, B, D) -> (L, B, B) squared Euclidean distances, clamped at 0, zero diagonal (as tfa)."""
    sq = embeddings.pow(2).sum(-1)
    d = sq.unsqueeze(-1) + sq.unsqueeze(-2) - 2.0 * embeddings @ embeddings.transpose(-1, -2)
    d = d.clamp_min(0.0)
    eye = torch.eye(d.shape[-1], dtype=torch.bool, device=d.device)
    return d.masked_fill(eye, 0.0)


def triplet_semihard_losses(labels, embeddings, margin=2.0):
    """Semi-hard triplet loss of L independent problems at once: labels (L, B), embeddings (L, B, D) -> (L,).

    TensorFlow Addons' triplet_semihard_loss as the LDM reference ported it: for anchor a and positive p
    (same label, p != a) the negative is the closest one farther than d(a, p), else the farthest negative
    (distance 0 when the batch has no negative); loss = sum over pairs of max(margin + d(a, p) - d(a, n), 0)
    divided by the number of pairs. The reference's O(B^3) mask becomes a sort of each anchor's negative
    distances and a binary search: memory O(L * B^2). Only the chosen distances carry gradients, as there.
    """
    d = _pairwise_squared_distances(embeddings.float())
    B = d.shape[-1]
    same = labels.unsqueeze(-1) == labels.unsqueeze(-2)  # (L, B, B), diagonal included
    with torch.no_grad():
        neg_sorted, neg_order = torch.where(same, torch.inf, d).sort(dim=-1)
        n_neg = (~same).sum(-1, keepdim=True)  # (L, B, 1)
        first_farther = torch.searchsorted(neg_sorted.contiguous(), d, right=True)  # tfa's strict `greater`
        semihard = neg_order.gather(-1, first_farther.clamp(max=B - 1))
        farthest = neg_order.gather(-1, (n_neg - 1).clamp(min=0))
        anchor = torch.arange(B, device=d.device).view(1, B, 1)  # d(a, a) = 0: tfa's value without negatives
        fallback = torch.where(n_neg > 0, farthest, anchor)
        negative = torch.where(first_farther < n_neg, semihard, fallback)  # (L, B, B): index of n for (a, p)
        positive = same & ~torch.eye(B, dtype=torch.bool, device=d.device)
    hinge = (margin + d - d.gather(-1, negative)).clamp_min(0.0) * positive
    return hinge.sum((-1, -2)) / positive.sum((-1, -2))


def triplet_semihard_loss(labels, embeddings, margin=2.0):
    """One problem: labels (B,), embeddings (B, D) -> scalar."""
    return triplet_semihard_losses(labels.unsqueeze(0), embeddings.unsqueeze(0), margin)[0]


def ldm_loss(logits, embeddings, targets, alpha=1.0, gamma=0.1, margin=2.0):
    """alpha * BCE-with-logits(logits, targets) + gamma * mean over labels of the semi-hard triplet loss
    of label l's embeddings (L, B, D) with targets[:, l] as class."""
    bce = F.binary_cross_entropy_with_logits(logits.float(), targets.float())
    triplet = triplet_semihard_losses(targets.transpose(0, 1), embeddings, margin)
    return alpha * bce + gamma * triplet.mean()
