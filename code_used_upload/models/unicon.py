"""UniCon (Karim et al., CVPR 2022) as the HMW authors adapted it (`--method uc`), and HMW + UniCon (`hmw+uc`).

Two networks train each other. Before each network's epoch, every training sample's Jensen-Shannon
divergence between the two networks' mean prediction and its noisy label (JSD) says how clean the label
looks; the samples below a threshold set the selection rate, and the same number of lowest-JSD samples
from every class (uniform selection, so that no class is starved) form the labelled set, the rest the
unlabelled one. One iteration then co-guesses the unlabelled samples' targets with both networks,
refines the labelled ones' with the trained network, mixes the strong views (MixMatch) and adds a
contrastive loss on the unlabelled views' projections and a penalty towards a uniform mean prediction.
With `hmw+uc` the classifier is the HMW head (models/hmw.py), whose mixup weights scale the MixMatch rows.

Here are the pure pieces of that step, each one golden-tested against the authors' code (the reference's
README, sections 3 to 5 and 8), and the network (`UniConNet`); training/unicon.py composes them. Where
the authors' uniform selection repeats sample 0 and the only sample of a one-sample class (defect D2),
this module follows the fixed rule.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .hmw import HMWHead

METHODS = ("uc", "hmw+uc")
SHARPEN_T = 0.5            # the targets' temperature (the authors' --T)
LAMBDA_U = 30.0            # the unlabelled loss's final weight (--lambda_u)
RAMPUP_LENGTH = 16         # epochs over which that weight ramps up after the warm-up
TEMPERATURE = 0.05         # the contrastive loss's (SupConLoss with base temperature 0.05: no rescaling)


def noisy_label_jsd(logits1, logits2, labels):
    """(N,) float64 JSD between the two networks' mean softmax p and the noisy label's one-hot q, natural log.

    As the authors' Calculate_JSD, with its 1e-10 inside both logarithms (so that q's zeros give 0, not
    NaN); float64 because the JSD of a confident, agreeing pair is a difference of nearly equal numbers.
    """
    p = (torch.softmax(logits1.double(), dim=1) + torch.softmax(logits2.double(), dim=1)) / 2
    q = F.one_hot(labels, p.shape[1]).double()
    m = (p + q) / 2
    kl_pm = (p * torch.log((p + 1e-10) / (m + 1e-10))).sum(dim=1)
    kl_qm = (q * torch.log((q + 1e-10) / (m + 1e-10))).sum(dim=1)
    return 0.5 * kl_pm + 0.5 * kl_qm


def selection_threshold(jsd, d_u=0.7, tau=5.0):
    """(threshold, selection rate): the mean JSD, moved towards the minimum when it exceeds d_u; the rate
    is the fraction of samples strictly below it.

    A rate of 0 (every JSD equal, or NaN after a divergence) leaves no labelled sample and makes the
    unlabelled batch size int(64 / (2 SR)) a division by zero in the authors' code: refused here.
    """
    jsd = jsd.double()
    threshold = float(jsd.mean())
    if threshold > d_u:
        threshold = threshold - (threshold - float(jsd.min())) / tau
    count = int((jsd < threshold).sum())
    if count == 0:
        raise UserError(f"selection rate 0: no sample's JSD is below the threshold {threshold:.6g} (the JSDs are "
                        f"all equal or NaN: the networks' predictions have collapsed or diverged); nothing to select")
    return threshold, count / jsd.numel()


def uniform_selection(jsd, labels, num_classes, selection_rate):
    """(labelled, unlabelled) int64 sample indices, ascending: per class the min(quota, n_c) samples with
    the smallest JSD (ties by the smaller index), quota = int(SR N / C); the unlabelled set is the rest.

    The quota is computed as the authors do (float64, SR first): for some counts it is one less than
    count // C. Unlike their code nothing pads the set: a short class gives all its samples, no sample
    appears twice (their D2).
    """
    n = jsd.numel()
    quota = int(selection_rate * n / num_classes)
    # a stable sort by JSD keeps equal values in index order; the stable sort by label keeps that order per class
    by_jsd = torch.sort(jsd, stable=True).indices
    order = by_jsd[torch.sort(labels[by_jsd], stable=True).indices]
    counts = torch.bincount(labels, minlength=num_classes)
    class_starts = torch.cumsum(counts, 0) - counts
    rank_in_class = torch.arange(n, device=jsd.device) - class_starts[labels[order]]
    labelled_mask = torch.zeros(n, dtype=torch.bool, device=jsd.device)
    labelled_mask[order[rank_in_class < quota]] = True
    return labelled_mask.nonzero().squeeze(1), (~labelled_mask).nonzero().squeeze(1)


def refinement_weights(jsd):
    """A labelled sample's trust in its noisy label: 1 - JSD from JSD 0.5 up (0.5 included), else 1."""
    return torch.where(jsd >= 0.5, 1 - jsd, torch.ones_like(jsd))


def _sharpen(p, T):
    """p^(1/T), renormalised per row: T < 1 makes the targets more confident."""
    p = p ** (1 / T)
    return p / p.sum(dim=1, keepdim=True)


def co_guess(logits, T=SHARPEN_T):
    """targets_u (B, C): the sharpened mean softmax of [net(u1), net(u2), other(u1), other(u2)]'s logits."""
    z11, z12, z21, z22 = logits
    p = (torch.softmax(z11, dim=1) + torch.softmax(z12, dim=1) + torch.softmax(z21, dim=1)
         + torch.softmax(z22, dim=1)) / 4
    return _sharpen(p, T)


def refine_labels(logits1, logits2, labels, weights, T=SHARPEN_T):
    """targets_x (B, C): w onehot(y) + (1 - w) p (p the mean softmax of the two weak views), sharpened."""
    p = (torch.softmax(logits1, dim=1) + torch.softmax(logits2, dim=1)) / 2
    w = weights.to(p.dtype).view(-1, 1)
    p = w * F.one_hot(labels, p.shape[1]).to(p.dtype) + (1 - w) * p
    return _sharpen(p, T)


def semi_loss(logits_x, targets_x, logits_u, targets_u, weights=None):
    """(Lx, Lu): the mixed labelled rows' soft cross-entropy (mean over rows) and the mixed unlabelled rows'
    squared error of the softmax (mean over every row and class).

    `weights` (one per mixed row, labelled rows first: the HMW head's mixup weights) scale each row's
    term; the means still divide by the row count, as the authors'.
    """
    cross_entropy = -(targets_x * F.log_softmax(logits_x, dim=1)).sum(dim=1)
    squared_error = (torch.softmax(logits_u, dim=1) - targets_u) ** 2
    if weights is not None:
        cross_entropy = cross_entropy * weights[:logits_x.shape[0]]
        squared_error = squared_error * weights[logits_x.shape[0]:, None]
    return cross_entropy.mean(), squared_error.mean()


def linear_rampup(current, warm_up, lambda_u=LAMBDA_U, rampup_length=RAMPUP_LENGTH):
    """The unlabelled loss's weight: 0 at the end of the warm-up, lambda_u rampup_length epochs later.

    `current` is the epoch plus the fraction of it done (batch index / iterations), so it rises within
    an epoch too.
    """
    return lambda_u * min(max((current - warm_up) / rampup_length, 0.0), 1.0)


def contrastive_loss(proj1, proj2, temperature=TEMPERATURE):
    """SimCLR's loss over the 2B rows of the two views' projections (B, P), normalised here.

    Each row's positive is the other view of its image, its negatives the other 2B - 2 rows: a
    cross-entropy over the similarities / temperature with the row itself left out.
    """
    rows = torch.cat([F.normalize(proj1, dim=1), F.normalize(proj2, dim=1)])
    similarity = rows @ rows.T / temperature
    self_mask = torch.eye(rows.shape[0], dtype=torch.bool, device=rows.device)
    similarity = similarity.masked_fill(self_mask, -torch.inf)
    batch = proj1.shape[0]
    positives = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(rows.device)
    return F.cross_entropy(similarity, positives)


def prior_penalty(logits):
    """KL(uniform || mean softmax over the rows): keeps the mixed batch from collapsing onto few classes."""
    num_classes = logits.shape[1]
    mean_prediction = torch.softmax(logits, dim=1).mean(dim=0)
    prior = 1.0 / num_classes
    return (prior * torch.log(prior / mean_prediction)).sum()


class UniConNet(nn.Module):
    """backbone -> classifier, plus a projection (Linear, BatchNorm1d) for the contrastive loss.

    `net(images)` returns the raw logits: the linear classifier's for `uc`, the HMW head's f W^T (not
    normalised) for `hmw+uc`. The authors' network computes the projection on every forward; only the
    contrastive views need it, and its BatchNorm statistics are never used, so `project` computes it alone.
    """

    def __init__(self, backbone, num_classes, method, train_size=None, epochs=None, projection_dim=128, **hmw_options):
        super().__init__()
        if method not in METHODS:
            raise UserError(f"method {method!r}: use one of {', '.join(METHODS)}")
        self.method = method
        self.backbone = backbone
        features = backbone.out_features
        if method == "uc":
            if hmw_options:
                raise UserError(f"method 'uc' has no HMW head: drop {', '.join(sorted(hmw_options))}")
            self.classifier = nn.Linear(features, num_classes)
        else:
            if train_size is None or epochs is None:
                raise UserError("method 'hmw+uc' needs train_size and epochs for its HMW head")
            self.classifier = HMWHead(features, num_classes, train_size, epochs, **hmw_options)
        self.projection = nn.Sequential(nn.Linear(features, projection_dim), nn.BatchNorm1d(projection_dim))

    @property
    def weighted(self):
        """True for `hmw+uc`: the classifier is an HMW head that weights the mixed rows."""
        return self.method == "hmw+uc"

    def forward(self, images):
        return self.classifier(self.backbone(images))

    def features_and_logits(self, images):
        """(pooled features f, raw logits): the mixed batch needs f for the HMW head's mixup weights."""
        features = self.backbone(images)
        return features, self.classifier(features)

    def project(self, images):
        """The projection h of the images' features, before normalising (the contrastive loss's input)."""
        return self.projection(self.backbone(images))
