"""The six label tasks and the fold split, exactly as the PTB-XL benchmark defines them.

Mirrors compute_label_aggregations + select_data (min_samples=0) of helme/ecg_ptbxl_benchmarking:
a record's labels are its scp_codes keys (any likelihood, 0 included) that the task's statements
know, mapped to the subclass or class for the aggregated tasks; records without a label are dropped;
columns are the labels present, sorted (as sklearn's MultiLabelBinarizer orders them).
"""

import numpy as np

from code_used_upload.configs.tasks import TASKS
from code_used_upload.errors import UserError

TRAIN_FOLDS = list(range(1, 9))
VALIDATION_FOLD = 9
TEST_FOLD = 10


def _statement_to_labels(statements, task):
    """statement code -> the label it gives in `task` (itself, its subclass or its class)."""
    if task == "all":
        return {code: code for code in statements.index}
    if task in ("form", "rhythm"):
        return {code: code for code in statements.index[statements[task] == 1.0]}
    diagnostic = statements[statements["diagnostic"] == 1.0]
    column = {"diagnostic": None, "subdiagnostic": "diagnostic_subclass", "superdiagnostic": "diagnostic_class"}[task]
    if column is None:
        return {code: code for code in diagnostic.index}
    return {code: label for code, label in diagnostic[column].items() if isinstance(label, str)}


def task_labels(database, statements, task):
    """(keep, Y, classes): records with a label in `task`, their multi-hot labels, the column names."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}: choose from {', '.join(TASKS)}.")
    mapping = _statement_to_labels(statements, task)
    label_sets = [{mapping[code] for code in codes if code in mapping} for codes in database["scp_codes"]]
    keep = np.array([len(labels) > 0 for labels in label_sets], dtype=bool)
    classes = sorted(set().union(*label_sets))
    column = {label: i for i, label in enumerate(classes)}
    kept = [labels for labels in label_sets if labels]
    Y = np.zeros((len(kept), len(classes)), dtype=np.int64)
    for row, labels in enumerate(kept):
        Y[row, [column[label] for label in labels]] = 1
    return keep, Y, classes


def split_folds(strat_fold):
    """Boolean (train, validation, test) masks: folds 1-8, 9 and 10, as the benchmark splits."""
    strat_fold = np.asarray(strat_fold)
    return np.isin(strat_fold, TRAIN_FOLDS), strat_fold == VALIDATION_FOLD, strat_fold == TEST_FOLD
