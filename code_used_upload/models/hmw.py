"""The HMW head (Zhang et al., "Learning with Noisy Labels Using Hyperspherical Margin Weighting", AAAI-24).

A bias-free linear classifier whose training call also returns a weight per sample for the loss: a
sample whose features sit closer to another class's weight vector than to its label's (a small margin,
AUM) or whose nearest other class stands out from the next ones (a clear rival, TKUM) is likely
mislabelled and gets a small weight. The weights are integrated over the epochs with an annealed
average that trusts early epochs most (before the network memorises the noisy labels).

The authors' class (`NaturalDistanceWeighting`) keeps an epochs x N table of every weight; here a
running float64 sum over the epochs and each sample's latest weight are the whole state (O(N)), in
`state_dict()`, so a resumed run continues with the same weights. The sum assumes that each sample is
seen at most once per epoch, as every epoch of the authors' trainers does: their table keeps the last
weight of a sample seen twice in an epoch, the sum would count both.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from code_used_upload.errors import UserError


class HMWHead(nn.Module):
    """features (B, F) -> logits; in a training call (labels, index, epoch given) also the weights (B,).

    `head(features, labels, index, epoch)` returns (z / ||z||_2, gamma) with z = f W^T (raw z when
    `normalize_logits` is False, an ablation of the authors' normalised logits); `head(features)`
    returns the raw z, for evaluation. `train_size` is N, the number of training samples, and `epochs`
    the run's total number of epochs T (the annealing schedule's length).
    """

    def __init__(self, in_features, num_classes, train_size, epochs, alpha=100.0, beta=100.0, top_rate=0.01,
                 if_aum=True, if_anneal=True, if_spherical=True, normalize_logits=True):
        super().__init__()
        if num_classes < 3:
            raise UserError(f"HMW needs at least 3 classes (a label, its nearest rival and a next one); got {num_classes}")
        if not 0.0 < top_rate <= 1.0:
            raise UserError(f"HMW top_rate {top_rate!r}: use a fraction in (0, 1] of the C - 2 remaining classes")
        if epochs < 1 or train_size < 1:
            raise UserError(f"HMW needs epochs >= 1 and train_size >= 1; got epochs={epochs}, train_size={train_size}")
        self.epochs = epochs
        self.alpha, self.beta = float(alpha), float(beta)
        # the authors' k: with the default 0.01 it is 1 for both 10 and 100 classes (int(0.08) = int(0.98) = 0)
        self.top_k = max(int((num_classes - 2) * top_rate), 1)
        # the mixup branch's k (UniCon): the authors take C - 3 there, the classes left besides a, b and o
        self.mixup_top_k = max(int((num_classes - 3) * top_rate), 1)
        self.if_aum, self.if_anneal, self.if_spherical = bool(if_aum), bool(if_anneal), bool(if_spherical)
        self.normalize_logits = bool(normalize_logits)
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's initialisation, as the authors'
        # sum over epochs j of e^(1 + cos(pi j / T)) * w_j(i): the annealed average's numerator
        self.register_buffer("weighted_sum", torch.zeros(train_size, dtype=torch.float64))
        # each sample's latest w: the integrated weight when annealing is off
        self.register_buffer("latest_weights", torch.zeros(train_size))

    def forward(self, features, labels=None, index=None, epoch=None):
        if labels is None:
            return F.linear(features, self.weight)
        if index is None or epoch is None:
            raise ValueError("a training call of HMWHead needs labels, index (the samples' rows) and epoch")
        self._check_epoch(epoch)
        # float32 logits and float64 weights whatever autocast says: beta = 100 turns rounding into weight
        with torch.autocast(features.device.type, enabled=False):
            z = F.linear(features.float(), self.weight.float())
            logits = F.normalize(z, dim=-1) if self.normalize_logits else z
            w = self._current_weights(features.detach(), labels)
        self._remember(w, index, epoch)
        gamma = self.weighted_sum[index] / self._normaliser(epoch) if self.if_anneal else w
        return logits, gamma.float()

    @torch.no_grad()
    def _current_weights(self, features, labels):
        """This call's w (B,), float64 (immune to TF32 and autocast) from the detached features and W.

        d_c = (1 - cos(f, W_c)) / 2 on the hypersphere, else -softmax(f W^T)_c; d_y is the label's,
        d_o the nearest other class's, d_oo the mean of the k next nearest (label and o excluded).
        """
        f, weight = features.double(), self.weight.detach().double()
        if self.if_spherical:
            d = (1.0 - F.normalize(f, dim=-1) @ F.normalize(weight, dim=-1).T) / 2.0
        else:
            d = -torch.softmax(f @ weight.T, dim=-1)
        labels = labels.view(-1, 1)
        d_y = d.gather(1, labels).squeeze(1)
        nearest = d.scatter(1, labels, torch.inf).topk(self.top_k + 1, dim=1, largest=False).values
        d_o, d_oo = nearest[:, 0], nearest[:, 1:].mean(dim=1)
        tkum = torch.exp(self.beta * (d_o - d_oo))
        if not self.if_aum:
            return tkum
        return 0.5 * torch.sigmoid(self.alpha * (d_o - d_y)) + 0.5 * tkum

    @torch.no_grad()
    def mixup_weights(self, features, labels_a, labels_b, drop_pos):
        """The weights (B,) of MixMatch rows (HMW + UniCon): float64 inside, returned as float32, detached.

        A mixed row has two labels a and b; its label distance d_y is the nearer of d_a and d_b (the
        authors pass the mix rate but do not use it). The rivals O are the other classes; where a == b the
        authors drop one more, at position `drop_pos` of the ascending classes other than a, so that |O| is
        always C - 2. d_o is O's nearest, d_oo the mean of the `mixup_top_k` next ones, and w is the
        labelled branch's formula on them. A row keeps w only if the second-nearest class of O is nearer
        than d_y (at least two rivals beat the label); every other row weighs 1. No memory: the mixed
        rows are not samples of the training set.
        """
        f, weight = features.detach().double(), self.weight.detach().double()
        num_classes = weight.shape[0]
        if num_classes < 4:
            raise UserError(f"HMW's mixup weights need at least 4 classes (two labels, a rival and a next one); "
                            f"got {num_classes}")
        if self.if_spherical:
            d = (1.0 - F.normalize(f, dim=-1) @ F.normalize(weight, dim=-1).T) / 2.0
        else:
            d = -torch.softmax(f @ weight.T, dim=-1)
        labels_a, labels_b = labels_a.view(-1, 1), labels_b.view(-1, 1)
        d_y = torch.minimum(d.gather(1, labels_a), d.gather(1, labels_b)).squeeze(1)
        # position p of the classes other than a is class p below a, p + 1 from a on; b == a there
        dropped = torch.where(drop_pos < labels_a.view(-1), drop_pos, drop_pos + 1).view(-1, 1)
        dropped = torch.where(labels_a == labels_b, dropped, labels_b)
        rivals = d.scatter(1, labels_a, torch.inf).scatter(1, labels_b, torch.inf).scatter(1, dropped, torch.inf)
        nearest = rivals.topk(self.mixup_top_k + 1, dim=1, largest=False).values
        d_o, d_oo = nearest[:, 0], nearest[:, 1:].mean(dim=1)
        w = torch.exp(self.beta * (d_o - d_oo))
        if self.if_aum:
            w = 0.5 * torch.sigmoid(self.alpha * (d_o - d_y)) + 0.5 * w
        return torch.where(nearest[:, 1] < d_y, w, torch.ones_like(w)).float()

    @torch.no_grad()
    def _remember(self, w, index, epoch):
        """Add this epoch's annealing factor times w to each sample's running sum; keep w as the latest."""
        self.weighted_sum.index_add_(0, index, w * self._epoch_factor(epoch))
        self.latest_weights[index] = w.float()

    def _check_epoch(self, epoch):
        """The authors' table has T rows, so epoch T would fail there (their loop runs epochs 0..T): refuse it here."""
        if not 0 <= epoch < self.epochs:
            raise ValueError(f"epoch {epoch} is outside this head's schedule 0..{self.epochs - 1} (epochs={self.epochs})")

    def _epoch_factor(self, epoch):
        """e^(1 + cos(pi j / T)): epoch j's unnormalised share of the annealed average."""
        return math.exp(1.0 + math.cos(math.pi * epoch / self.epochs))

    def _normaliser(self, epoch):
        """sum over j = 0..epoch of the epoch factors: the softmax's denominator, the current epoch included."""
        return math.fsum(self._epoch_factor(j) for j in range(epoch + 1))

    @torch.no_grad()
    def integrated_weights(self, epoch):
        """Every sample's gamma (N,) as a training call in `epoch` would return it; 0 for a sample never seen.

        A sample not yet seen in `epoch` counts 0 for it, as a zero row of the authors' table does.
        Without annealing it is each sample's latest w.
        """
        self._check_epoch(epoch)
        if not self.if_anneal:
            return self.latest_weights.clone()
        return (self.weighted_sum / self._normaliser(epoch)).float()
