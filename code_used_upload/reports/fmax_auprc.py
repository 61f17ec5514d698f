"""Fmax and macro-AUPRC for cells evaluated before the toolkit computed them, from what every cell keeps.

A cell's te_results.csv has had the columns fmax and macro_auprc since they were added; an older cell has
only macro_auc (and ICBEB's F_beta_macro, G_beta_macro). Its test predictions (`y_test_pred.npy`), the
experiment's test labels (`data/y_test.npy`) and its bootstrap resamples (`test_bootstrap_ids.npy`) are
all on disk, so `add_fmax_auprc` computes both metrics as a fresh cell would (the same numbers, to the
bit) and adds their columns to its te_results.csv, leaving the other columns' values as they were.
"""
import warnings

import numpy as np
import pandas as pd

from code_used_upload.errors import UserError
from code_used_upload.evaluation.metrics import FMAX_AUPRC, evaluate_fmax_auprc, undefined_labels_said_elsewhere
from code_used_upload.files import write_atomically
from code_used_upload.reports.tables import complete_cells

PREDICTIONS = "y_test_pred.npy"


def add_fmax_auprc(outputfolder):
    """Add fmax and macro_auprc to every complete cell's te_results.csv under `outputfolder` that lacks them
    (a seeded cell or a naive row); returns the files completed. A cell whose predictions, or whose
    experiment's labels or resamples, are missing keeps its file as it is, with a warning naming what is
    missing (its table cells stay `-`)."""
    completed = []
    for te_results, model_folder, _ in complete_cells(outputfolder):
        written = pd.read_csv(te_results, index_col=0)  # floats read back exactly: rewritten unchanged
        if set(FMAX_AUPRC) <= set(written.columns):
            continue
        experiment = model_folder.parents[1]
        needed = [te_results.parents[1] / PREDICTIONS, experiment / "data" / "y_test.npy",
                  experiment / "test_bootstrap_ids.npy"]
        missing = [str(path) for path in needed if not path.is_file()]
        if missing:
            warnings.warn(f"{te_results} has no Fmax and macro-AUPRC and they cannot be computed: "
                          f"{', '.join(missing)} missing")
            continue
        try:
            predictions, labels, bootstrap_ids = (np.load(path) for path in needed)  # arrays only: no pickle
            with undefined_labels_said_elsewhere():  # the task's preparation said it once
                scores = evaluate_fmax_auprc(labels, predictions, bootstrap_ids)
        except (OSError, ValueError, UserError) as error:  # a damaged file, or predictions that are not scores
            raise UserError(f"{te_results.parents[1]}: Fmax and macro-AUPRC cannot be added from its files "
                            f"({' '.join(str(error).split())}); delete the cell to train it again, or leave it out "
                            f"with --models") from None
        for metric, values in scores.items():
            written[metric] = pd.Series(values)
        write_atomically(te_results, lambda file: file.write(written.to_csv().encode()))
        completed.append(te_results)
    return completed
