"""`label_issues.csv`: the training images ranked from the most to the least suspect label, for a person
to review (or relabel) from the top.

The score is HMW's integrated weight where the run has one (hmw+cce, hmw+sce): it falls toward 0 for a
sample whose features sit nearer another class than its label's. The baselines (cce, sce) have no
weights; their score is AUM, the sample's raw-logit margin z_given - max_other z averaged over the
epochs (Pleiss et al. 2020): low when the model rarely favoured the given label. Ties (many weights
round to the same value near 0) are broken by AUM, then by the training row.

`flagged` uses no true label: the samples of the scores' low group (a two-component mixture on the
weights, or on AUM) that the final network predicts as another class, where it does so for most of the
group; nothing where it does not (a data set without noise, a network that learned the wrong labels).
reports/suspect_group.py gives the rule and its measurements: on the digits written as PNGs with 5% to 40%
in a wrong folder it flags 0.96 to 1.04 times as many images as are misplaced, recall 0.96 to 1.00, and none
without noise. It replaces fixed thresholds (weight < 0.5, AUM < 0), which flagged up to 1.4 times as many
as were misplaced there (up to 2.2 times on harder images) and, with hmw+cce, 31-105 images of a folder
without noise.

A cleanlab run is read as cleanlab's users read it: ranked by its label quality score (self-confidence,
the out-of-fold probability of the given label), shown in a `label_quality` column after `aum`, and
flagged where its `find_label_issues` flagged (the images it removed before the final training). Its
weight is NaN (a cce network) and its AUM NaN for the removed images, which the final model never
trained on. cleanlab's flags are kept as they are: on the digits folders above they flag 0.96-0.97 times the
misplaced images at 20% and 40% (recall 0.94-0.95) and 1 image without noise.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from code_used_upload.reports.suspect_group import suspect_group

LABEL_ISSUES_FILE = "label_issues.csv"
COLUMNS = ["path", "given_label", "predicted_label", "weight", "aum", "rank", "flagged"]
CLEANLAB_COLUMNS = [*COLUMNS[:5], "label_quality", *COLUMNS[5:]]


def write_label_issues(path, paths, given_labels, predicted_labels, weights, aum, class_names=None, quality=None,
                       issues=None):
    """Write the ranked table to `path` (a CSV file; its folder is made) and return it as a DataFrame.

    One row per training image: `paths[i]`, its given (noisy) label, the model's predicted label, its
    HMW weight (NaN without HMW) and AUM, `rank` 1 (most suspect) to N and `flagged` (reports/suspect_group.py).
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
        order, flagged = np.lexsort((aum,)), suspect_group(aum, predicted != given)
    elif np.isfinite(weights).all():
        order, flagged = np.lexsort((aum, weights)), suspect_group(weights, predicted != given)  # last key sorts first
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
