"""cleanlab as its users run it (`--method cleanlab`): K-fold out-of-fold predicted probabilities of the run's cce
network and recipe on the noisy labels, `cleanlab.filter.find_label_issues` on them (its default, prune by
noise rate) and `cleanlab.rank.get_label_quality_scores` (self-confidence); the run then trains cce on
the samples it keeps (experiments/noisy_cell.py).

The folds are stratified and seeded by the run's seed. Each finished fold's probabilities are kept beside
the run (`.<name>.fold<k>.pt`, with the run's identity), so an interrupted run resumes after its last
finished fold. cleanlab's own worker pool gets the run's CPU threads, not every core of the machine
(under Ray, the cores the cell reserved).
"""
import numpy as np
import torch

from code_used_upload.data.images import training_subset
from code_used_upload.evaluation.noisy_labels import predict_logits, separation_auroc
from code_used_upload.training.loop import seed_everything
from code_used_upload.training.noisy_labels import save_atomically, train_noisy_labels


def find_label_issues_by_folds(data, labels, is_noisy, run, settings, device, wanted, final, build):
    """cleanlab's issues (bool (N,)), its label quality scores and how well they find the mislabelled samples
    (`cleanlab_auroc`, `flagged`, `flag_precision`, `flag_recall`); `build(train_size)` makes a fold's cce
    network, `final` is the run's folder (the folds' files lie beside it), `wanted` its identity."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=run.cv_n_folds, shuffle=True, random_state=run.seed)
    probabilities = np.zeros((len(labels), data.num_classes), dtype=np.float32)
    for fold, (train_rows, held_out) in enumerate(folds.split(np.zeros(len(labels)), labels)):
        done = final.parent / f".{final.name}.fold{fold}.pt"
        checkpoint = final.parent / f".{final.name}.fold{fold}.checkpoint.pt"
        if not done.is_file():
            seed_everything(run.seed)
            model = build(len(train_rows)).to(device)
            train_noisy_labels(model, training_subset(data, train_rows), labels[train_rows], run.recipe, settings,
                               run.seed, device, checkpoint, identity=wanted,
                               description=f"{run.setting.name}/cleanlab fold {fold + 1}/{folds.n_splits}")
            held_images = torch.as_tensor(data.train_images[held_out], device=device)
            logits = predict_logits(model, held_images, data.mean, data.std)
            save_atomically({"probabilities": torch.softmax(logits, dim=1).cpu(), "identity": wanted}, done)
            checkpoint.unlink(missing_ok=True)
        probabilities[held_out] = torch.load(done, weights_only=True)["probabilities"].numpy()
    issues = find_label_issues(labels, probabilities, n_jobs=settings.threads)
    quality = get_label_quality_scores(labels, probabilities)
    found = issues & is_noisy
    return {"issues": issues, "quality": quality, "cleanlab_auroc": separation_auroc(quality, is_noisy),
            "flagged": int(issues.sum()),
            "flag_precision": float(found.sum() / issues.sum()) if issues.any() else float("nan"),
            "flag_recall": float(found.sum() / is_noisy.sum()) if is_noisy.any() else float("nan")}
