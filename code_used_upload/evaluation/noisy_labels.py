"""What a noisy-label run is judged by: clean test accuracy, and how well a per-sample score (HMW's
weights, AUM) tells the clean training samples from the mislabelled ones."""
import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from code_used_upload.training.augment import normalise

EVAL_PIXELS = 1024 * 32 * 32  # an evaluation batch's pixels: 1,024 CIFAR images, 20 photographs of 224 x 224


@torch.no_grad()
def predict_logits(model, images, mean, std, batch_size=None):
    """(N, C) float32 logits of `model` on uint8 `images` on its device, normalised a batch at a time, in
    evaluation mode; a batch holds EVAL_PIXELS pixels unless `batch_size` says otherwise, so that a batch of
    photographs takes no more memory than one of CIFAR's images."""
    model.eval()
    batch_size = min(len(images), batch_size or max(1, EVAL_PIXELS // (images.shape[-1] * images.shape[-2])))
    # one float batch, refilled: a new one per batch left the allocator's heap fragmented by the small tensors
    # allocated between them, and a CPU process grew by about a batch each time (470 MB over 1,800 photographs)
    batch = torch.empty((batch_size, *images.shape[1:]), dtype=torch.float32, device=images.device)
    logits = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        logits.append(model(normalise(chunk, mean, std, out=batch[:len(chunk)])).float())
    return torch.cat(logits)


def test_accuracy(model, images, labels, mean, std, batch_size=None):
    """Top-1 accuracy (a fraction) of `model` on uint8 `images` on its device against the clean `labels`."""
    predicted = predict_logits(model, images, mean, std, batch_size).argmax(dim=1)
    return float((predicted.cpu() == torch.as_tensor(labels)).double().mean())


def separation_auroc(scores, is_noisy):
    """ROC AUC of `scores` (high = clean) at telling the clean samples from the mislabelled ones; NaN when
    either group is empty (no noise) or a score is missing (NaN)."""
    scores, is_noisy = np.asarray(scores, dtype=np.float64), np.asarray(is_noisy, dtype=bool)
    if is_noisy.all() or not is_noisy.any() or not np.isfinite(scores).all():
        return float("nan")
    return float(roc_auc_score(~is_noisy, scores))


def group_means(scores, is_noisy):
    """(mean score of the clean samples, of the mislabelled ones); NaN for an empty group."""
    scores, is_noisy = np.asarray(scores, dtype=np.float64), np.asarray(is_noisy, dtype=bool)
    return tuple(float(scores[mask].mean()) if mask.any() else float("nan") for mask in (~is_noisy, is_noisy))
