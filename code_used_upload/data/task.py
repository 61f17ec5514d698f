"""One label task of the benchmark: its data (labels, folds, standardisation) and its artefacts.

`prepare_task` writes `<outputfolder>/<exp>/data/` in the benchmark's layout (y_train/y_val/y_test
.npy, classes.txt, scaler.json); every cell of the task then works from the returned `TaskData`.
The experiment's test bootstrap ids and its `naive` row are evaluation's work, added by
`experiments/prepare.py`.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from code_used_upload.configs.tasks import TASK_EXPERIMENTS
from code_used_upload.data.labels import split_folds, task_labels
from code_used_upload.data.ptbxl import load_database, load_signals, load_statements

@dataclass
class TaskData:
    """Standardised signals (records, leads, time) and multi-hot labels of one task's three folds."""
    task: str
    folder: Path
    classes: list
    scaler: dict
    sampling_frequency: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    bootstrap_ids: np.ndarray = None  # the experiment's test resamples, (resamples, test records)


class PTBXL:
    """PTB-XL read once (database, statements, signals from the cache) and shared by all tasks."""

    def __init__(self, datafolder, outputfolder, sampling_frequency, progress=True):
        self.datafolder = str(datafolder)
        self.database = load_database(datafolder)
        self.statements = load_statements(datafolder)
        self.sampling_frequency = sampling_frequency
        self.signals = load_signals(datafolder, self.database, sampling_frequency,
                                    cache_dir=Path(outputfolder) / "cache", progress=progress)


def fit_scaler(X_train, records_per_chunk=1024):
    """One mean and one standard deviation over every training value, as the benchmark's scaler
    (sklearn StandardScaler on all values flattened: population std). Two passes in float64 over
    chunks of records, so 500 Hz data needs no float64 copy of the whole training set."""
    def chunks():
        for start in range(0, len(X_train), records_per_chunk):
            yield np.asarray(X_train[start:start + records_per_chunk], dtype=np.float64)

    count = X_train.size
    mean = sum(chunk.sum() for chunk in chunks()) / count
    variance = sum(np.square(chunk - mean).sum() for chunk in chunks()) / count
    return {"mean": float(mean), "std": float(np.sqrt(variance))}


def standardise(X, scaler):
    """(records, time, leads) float -> standardised float32 (records, leads, time), the models' layout."""
    X = (np.asarray(X, dtype=np.float32) - np.float32(scaler["mean"])) / np.float32(scaler["std"])
    return np.ascontiguousarray(X.transpose(0, 2, 1))


def prepare_task(dataset, outputfolder, task, write=True):
    """Labels, folds and scaler of `task`; with `write`, its artefacts under `<outputfolder>/<exp>/`."""
    folder = Path(outputfolder) / TASK_EXPERIMENTS[task]
    keep, Y, classes = task_labels(dataset.database, dataset.statements, task)
    train, val, test = split_folds(dataset.database["strat_fold"].to_numpy()[keep])
    rows = np.flatnonzero(keep)
    scaler = fit_scaler(dataset.signals[rows[train]])
    data = TaskData(task, folder, list(classes), scaler, dataset.sampling_frequency,
                    standardise(dataset.signals[rows[train]], scaler), Y[train],
                    standardise(dataset.signals[rows[val]], scaler), Y[val],
                    standardise(dataset.signals[rows[test]], scaler), Y[test])
    if write:
        write_task_artefacts(data)
    return data


def write_task_artefacts(data):
    """The benchmark's `data/` folder, in plain formats (no pickles)."""
    data_dir = data.folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        np.save(data_dir / f"y_{split}.npy", getattr(data, f"y_{split}"))
    (data_dir / "classes.txt").write_text("".join(f"{label}\n" for label in data.classes))
    (data_dir / "scaler.json").write_text(json.dumps(data.scaler, indent=2) + "\n")
