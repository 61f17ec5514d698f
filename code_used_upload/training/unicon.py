"""One iteration of UniCon's semi-supervised training (`uc`, `hmw+uc`) and one batch of its warm-up.

As the HMW authors' `train()` and `standard()` (the reference's README, sections 2 and 4), with every
random draw (the Beta draw, the permutation, the HMW head's deletions) an argument, so that a run's
generators decide them and the golden files can inject the authors'. Each view is its own forward pass
of the trained network, in the authors' order (u1, u2, x1, x2, u3, u4, the mixed batch): BatchNorm
normalises each with that batch's statistics and updates its running statistics seven times an
iteration, in that order. The other network only co-guesses, in eval mode and without gradients, so
that an iteration changes nothing of it.
"""
import torch
import torch.nn.functional as F

from code_used_upload.models.noisy import negative_entropy
from code_used_upload.models.unicon import (co_guess, contrastive_loss, linear_rampup, prior_penalty, refine_labels,
                                            semi_loss)

LAMBDA_C = 0.025           # the contrastive loss's weight (the authors' --lambda_c)


def unicon_train_step(net, other, optimizer, views_x, labels_x, weights_x, views_u, *, epoch, batch_idx, num_iter,
                      warm_up, beta_draw, perm, drop_pos=None):
    """Train `net` (a UniConNet) on one labelled and one unlabelled batch; `optimizer` holds net's parameters.

    views_x / views_u: the four views (weak, weak, strong, strong) of the Bx labelled and Bu unlabelled
    images; labels_x their noisy labels, weights_x their refinement weights; beta_draw the Beta(4, 4)
    draw b (the mix rate is max(b, 1 - b)); perm the mixed rows' permutation (2 Bx + 2 Bu); drop_pos the
    HMW head's deletions (hmw+uc only). Returns the losses (detached 0-d tensors, lamb a float) and the
    step's targets, mixed labels and mixup weights (None for uc).
    """
    if net.weighted and drop_pos is None:
        raise ValueError("hmw+uc's step needs drop_pos, the HMW head's deletions for the rows with a == b")
    x1, x2, x3, x4 = views_x
    u1, u2, u3, u4 = views_u
    net.train()
    other.eval()
    with torch.no_grad():
        targets_u = co_guess([net(u1), net(u2), other(u1), other(u2)])
        targets_x = refine_labels(net(x1), net(x2), labels_x, weights_x)
    contrastive = contrastive_loss(net.project(u3), net.project(u4))

    mix = max(beta_draw, 1 - beta_draw)
    images = torch.cat([x3, x4, u3, u4])
    targets = torch.cat([targets_x, targets_x, targets_u, targets_u])
    labels_a = targets.argmax(dim=1)
    labels_b = labels_a[perm]
    mixed_images = mix * images + (1 - mix) * images[perm]
    mixed_targets = mix * targets + (1 - mix) * targets[perm]
    features, logits = net.features_and_logits(mixed_images)
    mix_weights = net.classifier.mixup_weights(features, labels_a, labels_b, drop_pos) if net.weighted else None

    labelled_rows = 2 * x1.shape[0]
    Lx, Lu = semi_loss(logits[:labelled_rows], mixed_targets[:labelled_rows], logits[labelled_rows:],
                       mixed_targets[labelled_rows:], mix_weights)
    lamb = linear_rampup(epoch + batch_idx / num_iter, warm_up)
    penalty = prior_penalty(logits)
    loss = Lx + lamb * Lu + LAMBDA_C * contrastive + penalty
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return dict(Lx=Lx.detach(), Lu=Lu.detach(), lamb=lamb, contrastive=contrastive.detach(), penalty=penalty.detach(),
                loss=loss.detach(), targets_x=targets_x, targets_u=targets_u, mixed_targets=mixed_targets,
                labels_a=labels_a, labels_b=labels_b, mix_weights=mix_weights)


def unicon_warmup_step(net, optimizer, images, labels, index, epoch, confidence_penalty=False):
    """One warm-up batch: the mean cross-entropy on the noisy labels (plus the NegEntropy penalty under
    asymmetric noise); returns the loss as a float.

    `uc` takes it on the linear classifier's logits: the authors' `uc` crashes here (D1), and this is
    UniCon's own warm-up. `hmw+uc` takes it on the HMW head's normalised training logits, unweighted (the
    call also writes the head's memory, which UniCon never reads). The projection is not computed, so it
    gets no gradient and SGD leaves it (and its weight decay) alone, as in the authors' warm-up.
    """
    net.train()
    features = net.backbone(images)
    if net.weighted:
        logits, _ = net.classifier(features, labels, index, epoch)
    else:
        logits = net.classifier(features)
    loss = F.cross_entropy(logits, labels)
    if confidence_penalty:
        loss = loss + negative_entropy(logits)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
