"""Your own ECGs: a folder of WFDB records and a label table, read as the benchmark's datasets are.

    DIR/labels.csv            record,labels[,fold][,patient_id]
    DIR/<any subfolders>/<record>.hea/.dat

`record` is the record's path relative to DIR without extension (as wfdb takes it), `labels` its label
names separated by `;` (empty: no label; such records are left out and counted), `fold` 1-10 (folds 1-8
train, 9 validation, 10 test, as the benchmark), `patient_id` the patient (records of one patient stay in
one fold when the folds are drawn). Without a fold column the folds are drawn as the benchmark draws
them (data/stratify.py) and written to `<outputfolder>/exp_folder/folds.csv`, which later runs read, so a
rerun keeps them.

Records may have any sampling rate (resampled with scipy.signal.resample_poly, data/leads.py), any
length of at least one window and any leads in any order and case: the run's leads are found by name.
Every row is checked from the headers before any signal is read or anything is written, and a bad one
stops the run with one line naming it and what to do. The signals are read once, at the run's rate and
leads, into a signal cache of their own (data/ptbxl.py's `cached_arrays`, as ICBEB's).
"""
import glob
import hashlib
import math
import os
import posixpath
import re
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from code_used_upload.configs.tasks import DATASET_EXPERIMENTS
from code_used_upload.data.leads import STANDARD_LEADS, describe_missing, lead_columns, resample, resampled_length
from code_used_upload.data.ptbxl import cached_arrays, fill_records, load_record_moments
from code_used_upload.data.labels import TEST_FOLD, TRAIN_FOLDS, VALIDATION_FOLD
from code_used_upload.data.records import Records
from code_used_upload.data.stratify import N_FOLDS, draw_folds
from code_used_upload.data.wfdb_reader import UnitProblem, read_header, read_samples
from code_used_upload.errors import UserError
from code_used_upload.files import write_atomically

LABELS_FILE = "labels.csv"
FOLDS_FILE = "folds.csv"  # the drawn folds, in the experiment's folder
LABEL_SEPARATOR = ";"
REQUIRED_COLUMNS = ("record", "labels")
CACHE_STEM = "folder_signals_{rate}hz"
FIX_ROW = "fix or remove its row"


class RecordProblem(UserError):
    """Why one record cannot be used, without saying which record: the caller names it."""


def record_header(path):
    """The header of the record at `path` (without extension, data/wfdb_reader.py); RecordProblem if it is absent
    or unreadable."""
    try:
        header = read_header(path)
    except FileNotFoundError as error:
        raise RecordProblem(f"is missing ({Path(error.filename or str(path) + '.hea').name} not found)")
    except UnitProblem as problem:
        raise RecordProblem(str(problem))
    except Exception as error:  # wfdb's many parse errors: all mean an unreadable header
        raise RecordProblem(f"is unreadable ({' '.join(f'{type(error).__name__}: {error}'.split())})")
    if not (math.isfinite(header.fs) and header.fs > 0):
        raise RecordProblem(f"has the sampling rate {header.fs:g} Hz in its header: give it the rate its samples "
                            f"were taken at")
    return header


def read_leads(path, leads, sampling_frequency, header=None):
    """(time, leads) float32 of the record at `path`: its `leads` by name (any order and case), resampled to
    `sampling_frequency`; RecordProblem if it is not there, cannot be read, lacks a lead or has missing samples."""
    header = header or record_header(path)
    columns, missing = lead_columns(header.sig_name, leads)
    if missing:
        raise RecordProblem(describe_missing(missing, header.sig_name))
    try:
        signal = read_samples(path, header, columns)
    except Exception as error:  # a truncated or damaged signal file
        raise RecordProblem(f"is unreadable ({type(error).__name__}: {error})")
    if np.isnan(signal).any():
        raise RecordProblem("has missing samples (NaN): fill or cut them first")
    return resample(signal, header.fs, sampling_frequency)


def _table_error(path, problem):
    return UserError(f"{path} {problem}; the table needs the columns record and labels (optional: fold, patient_id), "
                     "see the README's 'Your own ECGs'")


def read_label_table(datafolder):
    """labels.csv as a DataFrame: record, labels (a list), fold (or -1 where the table has no fold column),
    patient_id (None where not given) and row (the record's line in the file), one row per record."""
    path = Path(datafolder) / LABELS_FILE
    if not path.is_file():
        raise UserError(f"{datafolder} has no {LABELS_FILE}: pass --datafolder with the folder of your records and "
                        "their label table (see the README's 'Your own ECGs')")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _table_error(path, "is not text in UTF-8: save it as UTF-8 (CSV UTF-8 in a spreadsheet)") from None
    except Exception as error:  # pandas' parse errors: all mean the file is not a table (utf-8-sig: a BOM is no name)
        reason = " ".join(f"{type(error).__name__}: {error}".split())  # pandas' messages run over lines
        raise _table_error(path, f"is not a readable CSV table ({reason})") from None
    table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise _table_error(path, f"lacks the column{'s' if len(missing) > 1 else ''} {' and '.join(missing)} (its "
                                 f"columns: {', '.join(table.columns)})")
    if table.empty:
        raise _table_error(path, "has no rows")
    rows = np.arange(len(table)) + 2  # line 1 names the columns
    records = pd.Series([_record_name(text, path, row, datafolder) for text, row in zip(table["record"], rows)])
    repeated = records.duplicated()
    if repeated.any():
        row, record = rows[repeated.to_numpy()][0], records[repeated].iloc[0]
        first = rows[(records == record).to_numpy()][0]
        raise UserError(f"{path} row {row} names record {record} again (first in row {first}): one row per record")
    labels = [list(dict.fromkeys(label.strip() for label in text.split(LABEL_SEPARATOR) if label.strip()))
              for text in table["labels"]]
    return pd.DataFrame({"record": records, "labels": labels, "fold": _folds(table, path, rows, labels),
                         "patient_id": [pid.strip() if isinstance(pid, str) and pid.strip() else None
                                        for pid in table["patient_id"]]  # an empty cell: a patient of its own
                         if "patient_id" in table else [None] * len(table), "row": rows})


def _record_name(text, path, row, datafolder):
    """A row's record as one spelling of its path inside the folder (`./a//b` and `a/../a/b` are `a/b`), without
    extension; a UserError for none, or for one outside the folder (absolute, or through `..`)."""
    record = re.sub(r"\.(hea|dat)$", "", str(text).strip().replace("\\", "/"))
    if not record:
        raise UserError(f"{path} row {row} names no record: give its path relative to {datafolder} without "
                        f"extension, or remove the row")
    name = posixpath.normpath(record)
    if posixpath.isabs(record) or name == ".." or name.startswith("../"):
        raise UserError(f"{path} row {row}: record {record} is not inside {datafolder}: give its path relative to "
                        f"the folder, or move the record into it")
    return name


def _folds(table, path, rows, labels):
    """Each row's fold from the fold column (-1 without one); a UserError for a labelled row without a fold
    1-10."""
    if "fold" not in table:
        return np.full(len(table), -1)
    folds = pd.to_numeric(table["fold"].str.strip(), errors="coerce").to_numpy()
    for row, fold, text, row_labels in zip(rows, folds, table["fold"], labels):
        if row_labels and not (fold in range(1, N_FOLDS + 1)):
            raise UserError(f"{path} row {row}: fold {text.strip() or '(empty)'} is not one of 1-{N_FOLDS}: give every "
                            "labelled record a fold (1-8 train, 9 validation, 10 test), or drop the fold column to have "
                            "the folds drawn")
    return np.where(np.isnan(folds), -1, folds).astype(np.int64)


def check_records(datafolder, table, leads, sampling_frequency, min_samples, progress=True):
    """Every record's header, read before any signal: a UserError naming the first row whose record is not
    there, cannot be read, lacks one of `leads` or is shorter than `min_samples` at `sampling_frequency`
    (with the number of further bad rows). Returns the headers."""
    headers, problems = [], []
    for record, row in tqdm(zip(table["record"], table["row"]), total=len(table), desc="checking records",
                            unit="record", disable=not progress or len(table) < 1000):
        where = f"{LABELS_FILE} row {row}: record {record}"
        try:
            header = record_header(Path(datafolder) / record)
        except RecordProblem as problem:
            problems.append(f"{where} {problem}: {FIX_ROW}")
            continue
        _, missing = lead_columns(header.sig_name, leads)
        if missing:
            problems.append(f"{where} {describe_missing(missing, header.sig_name)}: pass --leads with leads every "
                            f"record has, or {FIX_ROW}")
        elif resampled_length(header.sig_len, header.fs, sampling_frequency) < min_samples:
            problems.append(f"{where} is {header.sig_len / header.fs:g} s long, shorter than one window of "
                            f"{min_samples / sampling_frequency:g} s: {FIX_ROW}")
        headers.append(header)
    if problems:
        more = f" (and {len(problems) - 1} more rows with a problem)" if len(problems) > 1 else ""
        raise UserError(f"{problems[0]}{more}")
    return headers


def _read_some(jobs):
    """The signals of some records (`read_leads`: as many samples as their headers say) concatenated, a
    UserError naming the row of the first that cannot be read."""
    signals = []
    for path, leads, sampling_frequency, header, row, record in jobs:
        try:
            signals.append(read_leads(path, leads, sampling_frequency, header))
        except RecordProblem as problem:
            raise UserError(f"{LABELS_FILE} row {row}: record {record} {problem}: {FIX_ROW}") from None
    return np.concatenate(signals)


def read_signals(datafolder, table, headers, leads, sampling_frequency, workers, progress):
    """The records of `table` as Records in RAM at `sampling_frequency` and `leads` (`fill_records`), their
    lengths known from the headers."""
    jobs = [(Path(datafolder) / record, leads, sampling_frequency, header, row, record)
            for record, row, header in zip(table["record"], table["row"], headers)]
    lengths = [resampled_length(header.sig_len, header.fs, sampling_frequency) for header in headers]
    return fill_records(jobs, lengths, len(leads), _read_some, workers, progress,
                        f"reading your records at {sampling_frequency} Hz", largest_chunk=64)


def fingerprint(datafolder):
    """SHA-256 of the label table and every header it names (in its order): what a folder's numbers depend
    on besides the signal files. None where the table cannot be read (the run then says why)."""
    digest = hashlib.sha256()
    try:
        table_bytes = (Path(datafolder) / LABELS_FILE).read_bytes()
        records = read_label_table(datafolder)["record"]
    except (OSError, UserError):  # a table that is not there or not right: the run's check names the problem
        return None
    digest.update(table_bytes)
    for record in records:
        header = Path(datafolder) / f"{record}.hea"
        digest.update(header.read_bytes() if header.is_file() else b"(missing)")
    return digest.hexdigest()


def signal_stamps(datafolder, table, headers):
    """SHA-256 of every record's signal files' sizes and modification times: a record rewritten since the signal
    cache was made (its header unchanged) is read again, not taken from the cache. Not in the run's identity,
    which a copy of the folder (new times, the same records) keeps."""
    digest = hashlib.sha256()
    for record, header in zip(table["record"], headers):
        path = Path(datafolder) / record
        files = ([path.parent / header.signal_file] if header.signal_file else
                 sorted(file for file in path.parent.glob(f"{glob.escape(path.name)}.*") if file.suffix != ".hea"))
        for file in files:
            status = file.stat() if file.exists() else None
            digest.update(f"{record}:{file.name}:{status and status.st_size}:{status and status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def folds_file(outputfolder):
    return Path(outputfolder) / DATASET_EXPERIMENTS["folder"]["all"] / FOLDS_FILE


def drawn_folds(table, outputfolder):
    """(each record's fold, whether they still need writing): the folds of an earlier run's folds.csv, or
    drawn now (label-stratified over patients, seeded) for a table without a fold column."""
    path = folds_file(outputfolder)
    if path.is_file():
        try:
            kept = pd.read_csv(path, dtype={"record": str}).set_index("record")["fold"]
            ok = kept.index.is_unique and kept.isin(range(1, N_FOLDS + 1)).all()
        except Exception:  # not a table of records and folds
            ok = False
        if not ok:
            raise UserError(f"{path} is not the folds this toolkit drew (one fold 1-{N_FOLDS} per record): delete it "
                            f"(and the cells trained on it) to draw them again, or write to another --outputfolder")
        if set(kept.index) != set(table["record"]):
            raise UserError(f"{path} holds the folds of other records than {LABELS_FILE} labels now: to draw them "
                            "again delete it (and the cells trained on them), or write this run to another --outputfolder")
        return kept.loc[table["record"]].to_numpy(), False
    return draw_folds(list(table["labels"]), list(table["patient_id"])), True


def check_splits(folds, label_lists, datafolder):
    """A UserError when folds 1-8, 9 or 10 hold no record, or fold 9 or 10 no label with both a positive and a
    negative record (whose AUC could be computed)."""
    path = Path(datafolder) / LABELS_FILE
    for name, fold_set in (("training folds 1-8", TRAIN_FOLDS), (f"validation fold {VALIDATION_FOLD}", [VALIDATION_FOLD]),
                           (f"test fold {TEST_FOLD}", [TEST_FOLD])):
        if not np.isin(folds, fold_set).any():
            raise UserError(f"{path}: the {name} hold no labelled record ({len(folds)} in all): give the table more "
                            "records, or a fold column with records in every split")
    for name, fold in (("validation", VALIDATION_FOLD), ("test", TEST_FOLD)):
        members = [set(labels) for labels, record_fold in zip(label_lists, folds) if record_fold == fold]
        if not any(0 < sum(label in labels for labels in members) < len(members) for label in set().union(*members)):
            raise UserError(f"{path}: no label has both a positive and a negative among the {len(members)} {name} "
                            f"records (fold {fold}), so no AUC can be computed: give the {name} fold more records")


class ECGFolder:
    """A user's folder read once: its labelled records at the run's rate and leads, their folds and moments.
    Its one task, `all`, has every label of the table, sorted."""
    name = "folder"
    challenge = False

    def __init__(self, datafolder, outputfolder, sampling_frequency, progress=True, leads=None, min_samples=1,
                 workers=None):
        self.sampling_frequency, self.leads = sampling_frequency, tuple(leads or STANDARD_LEADS)
        table = read_label_table(datafolder)
        unlabelled = int((table["labels"].str.len() == 0).sum())
        table = table[table["labels"].str.len() > 0].reset_index(drop=True)
        if table.empty:
            raise UserError(f"{Path(datafolder) / LABELS_FILE} gives no record a label: name each record's labels, "
                            f"separated by '{LABEL_SEPARATOR}'")
        headers = check_records(datafolder, table, self.leads, sampling_frequency, min_samples, progress)
        if (table["fold"] < 0).all():
            folds, new = drawn_folds(table, outputfolder)
        else:
            folds, new = table["fold"].to_numpy(), False
        check_splits(folds, table["labels"], datafolder)
        self.database = table.assign(strat_fold=folds).set_index("record")
        key = {"data_sha256": fingerprint(datafolder), "signal_files": signal_stamps(datafolder, table, headers),
               "sampling_frequency": sampling_frequency, "leads": list(self.leads), "records": len(table)}
        cache_dir = Path(outputfolder) / "cache"
        arrays = cached_arrays(cache_dir, CACHE_STEM.format(rate=sampling_frequency), key, lambda: self._read(
            datafolder, table, headers, workers, progress), suffixes=("", "_offsets"))
        self.records = Records(arrays[""], np.asarray(arrays["_offsets"]))
        self.moments = load_record_moments(self.records, cache_dir, CACHE_STEM.format(rate=sampling_frequency))
        if new:
            folds_file(outputfolder).parent.mkdir(parents=True, exist_ok=True)
            text = pd.DataFrame({"record": table["record"], "fold": folds}).to_csv(index=False, lineterminator="\n")
            write_atomically(folds_file(outputfolder), lambda file: file.write(text.encode()))
        if unlabelled:
            print(f"{Path(datafolder) / LABELS_FILE}: {unlabelled} record{'s' if unlabelled > 1 else ''} without a "
                  "label left out")

    def _read(self, datafolder, table, headers, workers, progress):
        workers = workers or (os.cpu_count() or 1 if len(table) >= 500 else 1)
        records = read_signals(datafolder, table, headers, self.leads, self.sampling_frequency, workers, progress)
        return {"": records.flat, "_offsets": records.offsets}

    @classmethod
    def fingerprint(cls, datafolder):
        return fingerprint(datafolder)

    def task_labels(self, task):
        """(keep, Y, classes) of the task `all`: every labelled record, multi-hot over the sorted label names."""
        classes = sorted({label for labels in self.database["labels"] for label in labels})
        column = {label: index for index, label in enumerate(classes)}
        Y = np.zeros((len(self.database), len(classes)), dtype=np.int64)
        for row, labels in enumerate(self.database["labels"]):
            Y[row, [column[label] for label in labels]] = 1
        return np.ones(len(Y), dtype=bool), Y, classes
