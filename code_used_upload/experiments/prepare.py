"""An experiment folder made ready for its cells: the task's data, its test resamples, its naive row.

`<outputfolder>/<exp>/` gets the benchmark's `data/` (from `data/task.py`), the experiment's
`test_bootstrap_ids.npy` (drawn once and reused by every cell, so all models of a task are scored
on the same resamples; the benchmark's own file is used if you put it there) and `models/naive/`,
the benchmark's training-prevalence baseline.
"""
import warnings

import numpy as np

from code_used_upload.data.task import prepare_task
from code_used_upload.evaluation.metrics import (UndefinedLabelWarning, draw_bootstrap_ids, evaluate,
                                                 evaluate_fmax_auprc, evaluate_with_thresholds, undefined_labels,
                                                 undefined_labels_said_elsewhere, write_te_results)

BOOTSTRAP_FILE = "test_bootstrap_ids.npy"


def prepare_experiment(dataset, outputfolder, task, write=True, **options):
    """`prepare_task` (with its `options`: folder, train_fraction, scaler) plus the experiment's bootstrap ids;
    with `write`, every artefact and the naive row."""
    data = prepare_task(dataset, outputfolder, task, write=write, **options)
    bootstrap_path = data.folder / BOOTSTRAP_FILE
    with undefined_labels_said_elsewhere():
        if bootstrap_path.exists():
            data.bootstrap_ids = np.load(bootstrap_path)
        else:
            data.bootstrap_ids = draw_bootstrap_ids(data.y_test)
            if write:
                np.save(bootstrap_path, data.bootstrap_ids)
        if write:
            write_naive_row(data)
    if write:
        say_undefined_labels(data)
    return data


def say_undefined_labels(data):
    """One warning per task for the labels whose validation or test AUC is undefined (only on small
    synthetic folds; every label of PTB-XL has both classes in folds 9 and 10). The cells evaluate
    with that warning silenced, so it is said here once instead of in every cell."""
    for fold, y in (("validation", data.y_val), ("test", data.y_test)):
        undefined = undefined_labels(y)
        if undefined:
            names = ", ".join(data.classes[i] for i in undefined)
            warnings.warn(UndefinedLabelWarning(
                f"task {data.task}: {len(undefined)} of {len(data.classes)} labels have only one class among the "
                f"{len(y)} {fold} records ({names}); their AUC is undefined and left out of every macro-AUC"))


def write_naive_row(data):
    """The benchmark's `naive` model: training prevalence as the prediction for every test record (and,
    where the task has the challenge's metrics, for every training record, to fit its thresholds on)."""
    naive_dir = data.folder / "models" / "naive"
    (naive_dir / "results").mkdir(parents=True, exist_ok=True)
    prevalence = data.y_train.mean(axis=0, dtype=np.float64).astype(np.float32)
    prediction = np.tile(prevalence, (len(data.y_test), 1))
    np.save(naive_dir / "y_test_pred.npy", prediction)
    challenge = None
    if data.challenge:
        challenge, _ = evaluate_with_thresholds(data.y_train, np.tile(prevalence, (len(data.y_train), 1)),
                                                data.y_test, prediction, data.bootstrap_ids)
    write_te_results(naive_dir / "results" / "te_results.csv", evaluate(data.y_test, prediction, data.bootstrap_ids),
                     challenge, evaluate_fmax_auprc(data.y_test, prediction, data.bootstrap_ids))
