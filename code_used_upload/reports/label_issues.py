"""`label_issues.csv`: the training images ranked from the most to the least suspect label, for a person
to review (or relabel) from the top.

The score is HMW's integrated weight where the run has one (hmw+cce, hmw+sce): it falls toward 0 for a
sample whose features sit nearer another class than its label's. The baselines (cce, sce) have no
weights; their score is AUM, the sample's raw-logit margin z_given - max_other z averaged over the
epochs (Pleiss et al. 2020): low when the model rarely favoured the given label. Ties (many weights
round to the same value near 0) are broken by AUM, then by the training row.

`flagged` uses no true label, only the score against a fixed threshold:
- weight < 0.5. HMW's weights are bimodal: the integrated weight is 0.5 sigmoid(AUM term) + 0.5 TKUM,
  so a sample trusted throughout sits near 0.8 (rarely above 0.9, never 1) and a distrusted one near
  0, with few between. On the digits at 40% symmetric noise (hmw+cce, seed 0; 456 of 1,257 labels wrong) it
  flags 386 images: precision 0.995, recall 0.842 (seeds 1, 2: 0.997 / 0.802, 1.000 / 0.774; hmw+sce
  seed 0: 0.998 / 0.888). Without noise it flags 1 image of 1,257. The threshold hardly matters
  between 0.2 and 0.5 (seed 0: recall 0.814 to 0.842, precision 0.995 to 0.997); at 0.7 it runs into
  the clean mode (precision 0.857). A threshold fitted to the weights (Otsu's) was not taken: it
  splits a noise-free set in two as well (it flags 281 of 1,257 images of a run without noise).
  A training view lowers the clean mode, and the rule becomes generous: `--arch mlp` on an image folder
  trains with the one-pixel shift (models/noisy.py), where clean images sit near 0.75 (1% below 0.37). On
  the digits written as PNGs with 40% in a wrong folder (seeds 0-2) it flags with precision 0.93 and
  recall 1.00; with 10% misplaced, 0.79 and 1.00; in a folder without misplaced images, 41 of 1,617. The
  ranking is the better guide there: its top rows, as many as there are misplaced images, are 98.7%
  misplaced (without the view: 90%).
- AUM < 0: the given label was, on average, not the model's favourite. With sce (seed 0) it flags 390:
  precision 0.997, recall 0.853. With cce it flags almost nothing (6 images, recall 0.013): plain
  cross-entropy memorises the flipped labels, so their mean margin ends positive; the ranking still
  finds them (AUROC 0.93; 80% of its top 456 rows are mislabelled), so read cce's file from the
  top rather than by the flag.
Under asymmetric noise (a class flipped into one other) both rules find fewer (digits asym 0.4, hmw+cce:
weight < 0.5 precision 0.89, recall 0.53).

A cleanlab run is read as cleanlab's users read it: ranked by its label quality score (self-confidence,
the out-of-fold probability of the given label), shown in a `label_quality` column after `aum`, and
flagged where its `find_label_issues` flagged (the images it removed before the final training). Its
weight is NaN (a cce network) and its AUM NaN for the removed images, which the final model never
trained on.
"""
from pathlib import Path

import numpy as np
import pandas as pd

LABEL_ISSUES_FILE = "label_issues.csv"
COLUMNS = ["path", "given_label", "predicted_label", "weight", "aum", "rank", "flagged"]
CLEANLAB_COLUMNS = [*COLUMNS[:5], "label_quality", *COLUMNS[5:]]
WEIGHT_THRESHOLD = 0.5
AUM_THRESHOLD = 0.0


def write_label_issues(path, paths, given_labels, predicted_labels, weights, aum, class_names=None, quality=None,
                       issues=None):
    """Write the ranked table to `path` (a CSV file; its folder is made) and return it as a DataFrame.

    One row per training image: `paths[i]`, its given (noisy) label, the model's predicted label, its
    HMW weight (NaN without HMW) and AUM, `rank` 1 (most suspect) to N and `flagged` (the module's rule).
    Labels are written as `class_names[label]` when class names are given, else as integers.
    `weights` are either all finite (ranked by weight) or all NaN (ranked by AUM). A cleanlab run gives
    `quality` (its label quality scores, ranked by them) and `issues` (its flags).
    """
    weights, aum = np.asarray(weights, dtype=np.float64), np.asarray(aum, dtype=np.float64)
    given, predicted = np.asarray(given_labels, dtype=np.int64), np.asarray(predicted_labels, dtype=np.int64)
    if (quality is None) != (issues is None):
        raise ValueError("cleanlab's quality scores and its issues go together: give both or neither")
    cleanlab = quality is not None
    sizes = {len(paths), len(given), len(predicted), len(weights), len(aum)}
    if cleanlab:
        quality, issues = np.asarray(quality, dtype=np.float64), np.asarray(issues, dtype=bool)
        sizes |= {len(quality), len(issues)}
    if len(sizes) != 1:
        raise ValueError(f"paths, labels, weights and aum need one entry per training image; "
                         f"got lengths {sorted(sizes)}")
    if cleanlab:
        order, flagged = np.lexsort((aum, quality)), issues
    elif np.isnan(weights).all():
        order, flagged = np.lexsort((aum,)), aum < AUM_THRESHOLD
    elif np.isfinite(weights).all():
        order, flagged = np.lexsort((aum, weights)), weights < WEIGHT_THRESHOLD  # last key sorts first
    else:
        raise ValueError("weights must be all finite (an HMW run) or all NaN (a baseline without weights)")
    names = np.asarray(class_names, dtype=object) if class_names is not None else None
    table = pd.DataFrame({"path": np.asarray(paths, dtype=object)[order],
                          "given_label": names[given[order]] if names is not None else given[order],
                          "predicted_label": names[predicted[order]] if names is not None else predicted[order],
                          "weight": weights[order], "aum": aum[order], "rank": np.arange(1, len(order) + 1),
                          "flagged": flagged[order],
                          **({"label_quality": quality[order]} if cleanlab else {})},
                         columns=CLEANLAB_COLUMNS if cleanlab else COLUMNS)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return table
