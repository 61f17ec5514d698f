"""One label task of the benchmark on PTB-XL or ICBEB 2018: its data (labels, folds, standardisation) and
its artefacts.

`prepare_task` writes `<outputfolder>/<exp>/data/` in the benchmark's layout (y_train/y_val/y_test
.npy, classes.txt, scaler.json); every cell of the task then works from the returned `TaskData`.
The experiment's test bootstrap ids and its `naive` row are evaluation's work, added by
`experiments/prepare.py`.

A task's folds are never copied: each is its rows of the signal cache's memory map, which all tasks
share, records of any length (data/records.py). The scaler (one mean, one standard deviation) comes
from the cached per-record moments, and the `Standardiser` applies it where a batch or an evaluation
chunk is made, so preparing a task costs a pass over its records' moments, not over its samples.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from code_used_upload.configs.tasks import DATASET_EXPERIMENTS
from code_used_upload.data import icbeb, ptbxl
from code_used_upload.data.folder import ECGFolder
from code_used_upload.data.icbeb import icbeb_labels, load_icbeb_database, load_icbeb_records
from code_used_upload.data.labels import split_folds, task_labels
from code_used_upload.data.leads import STANDARD_LEADS
from code_used_upload.data.ptbxl import load_database, load_record_moments, load_signals, load_statements
from code_used_upload.data.records import LeadSubset, Records
from code_used_upload.data.stratify import stratified_fraction
from code_used_upload.errors import UserError


@dataclass(frozen=True, eq=False)
class Fold:
    """Some of the records, read a slice of rows at a time: Records as far as `len`, `lengths` and slicing
    go, but the host never holds the whole fold."""
    records: Records  # every record, usually over the cache's memory map
    rows: np.ndarray  # this fold's indices into `records`, ascending

    def __len__(self):
        return len(self.rows)

    @property
    def lengths(self):
        return self.records.lengths[self.rows]

    @property
    def n_leads(self):
        return self.records.n_leads

    def __getitem__(self, index):
        """The records `rows[index]` (a slice) as new Records in RAM (float32)."""
        return self.records.take(self.rows[index])


@dataclass(frozen=True)
class Standardiser:
    """The task's scaler applied in float32: (x - mean) / std, with mean and std rounded to float32
    first, so that a batch standardised on the device equals the same values of a standardised fold
    (`(X.astype(float32) - float32(mean)) / float32(std)`) up to float32 rounding (bit for bit on a
    CPU; CUDA may divide by multiplying with the reciprocal). Works on tensors and arrays."""
    mean: float
    std: float

    def __call__(self, signals):
        return (signals - float(np.float32(self.mean))) / float(np.float32(self.std))


@dataclass
class TaskData:
    """One task's three folds of raw signals (records, time, leads), their multi-hot labels and the
    scaler of its training fold; `standardiser` applies that scaler to batches."""
    task: str
    folder: Path
    classes: list
    scaler: dict
    sampling_frequency: int
    X_train: Fold
    y_train: np.ndarray
    X_val: Fold
    y_val: np.ndarray
    X_test: Fold
    y_test: np.ndarray
    challenge: bool = False           # also the challenge's F_beta and G_beta, thresholds fitted on training (ICBEB)
    bootstrap_ids: np.ndarray = None  # the experiment's test resamples, (resamples, test records)
    leads: tuple = STANDARD_LEADS     # the leads the folds hold, in their order: the models' input channels

    @property
    def standardiser(self):
        return Standardiser(**self.scaler)


class TwelveLeadDataset:
    """What PTB-XL and ICBEB 2018 share: a database file that fingerprints the data, and a signal cache of all
    twelve leads in the standard order, seen through the run's leads (all twelve: the cache itself)."""
    database_file = None

    @classmethod
    def fingerprint(cls, datafolder):
        """SHA-256 of the dataset's database table, which holds every record's labels and folds; None where it
        cannot be read (the run then says why)."""
        path = Path(datafolder) / cls.database_file
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    def use_leads(self, records, leads, cache_dir, stem, min_samples):
        """`records` (all twelve leads) through `leads`, and the moments of those leads; a UserError naming a
        record shorter than `min_samples` (none of PTB-XL's 10 s or ICBEB's 6 s or more is)."""
        self.leads = tuple(leads or STANDARD_LEADS)
        short = np.flatnonzero(records.lengths < min_samples)
        if len(short):
            raise UserError(f"record {self.database.index[short[0]]} of {self.datafolder} is {records.lengths[short[0]]} "
                            f"samples long, shorter than one window of {min_samples}: remove it from the data")
        if self.leads != STANDARD_LEADS:
            records = LeadSubset(records, tuple(STANDARD_LEADS.index(lead) for lead in self.leads))
        self.records = records
        self.moments = load_record_moments(records, cache_dir, stem, None if self.leads == STANDARD_LEADS else self.leads)


class PTBXL(TwelveLeadDataset):
    """PTB-XL read once (database, statements, signals from the cache and each record's moments) and
    shared by all its tasks."""
    name = "ptbxl"
    challenge = False  # the benchmark scores PTB-XL by macro-AUC alone
    database_file = "ptbxl_database.csv"  # the release's table of records and labels: the data's fingerprint

    def __init__(self, datafolder, outputfolder, sampling_frequency, progress=True, leads=None, min_samples=1):
        self.datafolder = str(datafolder)
        self.database = load_database(datafolder)
        self.statements = load_statements(datafolder)
        self.sampling_frequency = sampling_frequency
        cache_dir = Path(outputfolder) / "cache"
        self.signals = load_signals(datafolder, self.database, sampling_frequency, cache_dir=cache_dir, progress=progress)
        self.use_leads(Records.of_array(self.signals), leads, cache_dir, ptbxl.CACHE_STEM.format(rate=sampling_frequency),
                       min_samples)

    def task_labels(self, task):
        """(keep, Y, classes): `data.labels.task_labels` of the task."""
        return task_labels(self.database, self.statements, task)


class ICBEB(TwelveLeadDataset):
    """ICBEB 2018 in the benchmark's layout (data/icbeb.py) read once: its database, its records of 6 s to
    60 s from their own cache and each record's moments. The benchmark runs one task on it, `all`, and
    scores it with the challenge's metrics beside macro-AUC."""
    name = "icbeb"
    challenge = True
    database_file = icbeb.DATABASE  # written last by the conversion: the data's fingerprint

    def __init__(self, datafolder, outputfolder, sampling_frequency, progress=True, leads=None, min_samples=1):
        self.datafolder = str(datafolder)
        self.database = load_icbeb_database(datafolder)
        self.sampling_frequency = sampling_frequency
        cache_dir = Path(outputfolder) / "cache"
        records = load_icbeb_records(datafolder, self.database, sampling_frequency, cache_dir, progress=progress)
        self.use_leads(records, leads, cache_dir, icbeb.CACHE_STEM.format(rate=sampling_frequency), min_samples)

    def task_labels(self, task):
        """(keep, Y, classes) of the task `all`: every record, its nine labels (`icbeb_labels`)."""
        Y, classes = icbeb_labels(self.database)
        return np.ones(len(Y), dtype=bool), Y, classes


DATASETS = {dataset.name: dataset for dataset in (PTBXL, ICBEB, ECGFolder)}


def fit_scaler(moments):
    """One mean and one standard deviation over every value of the records whose `record_moments` are
    given, as the benchmark's scaler (sklearn StandardScaler on all values flattened: population std).

    The records' moments are combined exactly (Chan, Golub and LeVeque's parallel formula): the
    overall mean is the count-weighted mean of the means, and the centred sum of squares is the
    records' own plus each record's count times its mean's squared distance to the overall mean;
    no raw sum of squares is ever formed, so nothing cancels.
    """
    counts, means, centred_squares = np.asarray(moments, dtype=np.float64).T
    count = counts.sum()
    mean = (counts * means).sum() / count
    variance = (centred_squares.sum() + (counts * np.square(means - mean)).sum()) / count
    return {"mean": float(mean), "std": float(np.sqrt(variance))}


def prepare_task(dataset, outputfolder, task, write=True, folder=None, train_fraction=1.0, scaler=None):
    """Labels, folds and scaler of `task` of `dataset` (PTBXL, ICBEB or ECGFolder); with `write`, its artefacts
    under `folder` (default `<outputfolder>/<exp>/`). A `train_fraction` below 1 keeps that share of the
    training folds (label-stratified over patients, seeded: `data.stratify.stratified_fraction`), the
    validation and test folds unchanged; `scaler` (a trained cell's) replaces the one fitted on training."""
    folder = Path(folder or Path(outputfolder) / DATASET_EXPERIMENTS[dataset.name][task])
    keep, Y, classes = dataset.task_labels(task)
    train, val, test = split_folds(dataset.database["strat_fold"].to_numpy()[keep])
    rows = np.flatnonzero(keep)
    train_rows, y_train = rows[train], Y[train]
    if train_fraction < 1:
        patients = (dataset.database["patient_id"].to_numpy()[train_rows] if "patient_id" in dataset.database
                    else np.full(len(train_rows), None))
        kept = stratified_fraction([np.flatnonzero(labels).tolist() for labels in y_train],
                                   [None if pd.isna(pid) else pid for pid in patients], train_fraction)
        if not kept.any():
            raise UserError(f"--train_fraction {train_fraction:g} keeps none of the {len(y_train)} training records of "
                            f"task {task}: use a larger fraction")
        train_rows, y_train = train_rows[kept], y_train[kept]
    scaler = scaler or fit_scaler(dataset.moments[train_rows])
    data = TaskData(task, folder, list(classes), scaler, dataset.sampling_frequency,
                    Fold(dataset.records, train_rows), y_train,
                    Fold(dataset.records, rows[val]), Y[val],
                    Fold(dataset.records, rows[test]), Y[test], challenge=dataset.challenge, leads=dataset.leads)
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
