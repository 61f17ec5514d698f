"""An experiment folder made ready for its cells: the task's data, its test resamples, its naive row.

`<outputfolder>/<exp>/` gets the benchmark's `data/` (from `data/task.py`), the experiment's
`test_bootstrap_ids.npy` (drawn once and reused by every cell, so all models of a task are scored
on the same resamples; the benchmark's own file is used if you put it there) and `models/naive/`,
the benchmark's training-prevalence baseline.
"""
import numpy as np

from code_used_upload.data.task import prepare_task
from code_used_upload.evaluation.metrics import draw_bootstrap_ids, evaluate, write_te_results

BOOTSTRAP_FILE = "test_bootstrap_ids.npy"


def prepare_experiment(dataset, outputfolder, task, write=True):
    """`prepare_task` plus the experiment's bootstrap ids; with `write`, every artefact and the naive row."""
    data = prepare_task(dataset, outputfolder, task, write=write)
    bootstrap_path = data.folder / BOOTSTRAP_FILE
    if bootstrap_path.exists():
        data.bootstrap_ids = np.load(bootstrap_path)
    else:
        data.bootstrap_ids = draw_bootstrap_ids(data.y_test)
        if write:
            np.save(bootstrap_path, data.bootstrap_ids)
    if write:
        write_naive_row(data)
    return data


def write_naive_row(data):
    """The benchmark's `naive` model: training prevalence as the prediction for every test record."""
    naive_dir = data.folder / "models" / "naive"
    (naive_dir / "results").mkdir(parents=True, exist_ok=True)
    prevalence = data.y_train.mean(axis=0, dtype=np.float64).astype(np.float32)
    prediction = np.tile(prevalence, (len(data.y_test), 1))
    np.save(naive_dir / "y_test_pred.npy", prediction)
    write_te_results(naive_dir / "results" / "te_results.csv", evaluate(data.y_test, prediction, data.bootstrap_ids))
