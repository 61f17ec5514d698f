"""Read a PTB-XL folder: the database, the statements and every record's signal, fast and cached.

The benchmark reads each record with a sequential `wfdb.rdsamp` loop (about a minute per rate and
run). PTB-XL's headers all have one fixed shape (format 16, 12 leads, one gain and baseline per
lead), so we parse them ourselves, read the `.dat` with `np.fromfile` over worker processes and
apply wfdb's own arithmetic; a record in any other shape goes through `wfdb.rdsamp` instead.
Beside the cached signals lie every record's moments (its mean and centred sum of squares), so that
a task's scaler is a sum over its records instead of a pass over every sample (data/task.py).
"""

import ast
import hashlib
import json
import mmap
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb
from tqdm import tqdm

from code_used_upload.errors import UserError

SAMPLING_FREQUENCIES = (100, 500)
RECORD_SECONDS = 10  # every PTB-XL record is 10 s long
N_LEADS = 12
WFDB_NAN = -32768  # format 16's digital value for a missing sample: wfdb turns it into NaN

# the gain field of a signal line, e.g. "1000.0(0)/mV": gain, baseline and units
_GAIN_FIELD = re.compile(r"^(\d+(?:\.\d*)?)\((-?\d+)\)(?:/\S+)?$")


def _no_ptbxl(datafolder, missing):
    return UserError(
        f"{datafolder} has no PTB-XL ({missing} not found). Run ./get_ptbxl.sh to download it, "
        f"or pass --datafolder with the folder that holds ptbxl_database.csv; "
        f"--demo runs without the data, on a synthetic PTB-XL."
    )


def load_database(datafolder):
    """ptbxl_database.csv indexed by ecg_id, with scp_codes parsed from their dict strings."""
    path = Path(datafolder) / "ptbxl_database.csv"
    if not path.is_file():
        raise _no_ptbxl(datafolder, path.name)
    database = pd.read_csv(path, index_col="ecg_id")
    database["scp_codes"] = database["scp_codes"].apply(ast.literal_eval)
    return database


def load_statements(datafolder):
    """scp_statements.csv indexed by statement code (the label definitions of every task)."""
    path = Path(datafolder) / "scp_statements.csv"
    if not path.is_file():
        raise _no_ptbxl(datafolder, path.name)
    return pd.read_csv(path, index_col=0)


def _bad_record(path, problem):
    return UserError(f"PTB-XL record {path} is {problem}: re-run ./get_ptbxl.sh to restore the data.")


def _parse_fast_header(header_path, sampling_frequency):
    """(length, gains, baselines) if the header has the release's fixed shape, else None."""
    lines = [line for line in header_path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) != 1 + N_LEADS:
        return None
    record = lines[0].split()
    if len(record) != 4 or record[0] != header_path.stem or record[1] != str(N_LEADS):
        return None
    if record[2] != str(sampling_frequency) or not record[3].isdigit():
        return None
    gains, baselines = [], []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) != 9 or fields[0] != header_path.stem + ".dat" or fields[1] != "16":
            return None
        gain_field = _GAIN_FIELD.match(fields[2])
        if gain_field is None or float(gain_field[1]) <= 0:
            return None
        gains.append(float(gain_field[1]))
        baselines.append(int(gain_field[2]))
    return int(record[3]), np.array(gains), np.array(baselines, dtype=np.float64)


def _read_fast(record_path, sampling_frequency):
    """The record's physical signal as wfdb computes it, or None if its header is not the fixed shape."""
    parsed = _parse_fast_header(record_path.with_suffix(".hea"), sampling_frequency)
    if parsed is None:
        return None
    length, gains, baselines = parsed
    digital = np.fromfile(record_path.with_suffix(".dat"), dtype="<i2", count=length * N_LEADS)
    if digital.size != length * N_LEADS:
        raise _bad_record(record_path, f"truncated ({digital.size} of {length * N_LEADS} samples)")
    digital = digital.reshape(length, N_LEADS)
    # wfdb's dac: float64 (digital - baseline) / gain, NaN for the missing-sample value
    physical = (digital.astype(np.float64) - baselines) / gains
    physical[digital == WFDB_NAN] = np.nan
    return physical.astype(np.float32)


def _read_wfdb(record_path, sampling_frequency):
    signal, fields = wfdb.rdsamp(str(record_path))
    if fields["fs"] != sampling_frequency or signal.shape[1] != N_LEADS:
        raise _bad_record(record_path, f"at {fields['fs']} Hz with {signal.shape[1]} leads")
    return signal.astype(np.float32)


def read_record(record_path, sampling_frequency):
    """One record (time, 12) float32: the fast reader, or wfdb for a header in another shape."""
    record_path = Path(record_path)
    try:
        signal = _read_fast(record_path, sampling_frequency)
        if signal is None:
            signal = _read_wfdb(record_path, sampling_frequency)
    except UserError:
        raise
    except FileNotFoundError as error:
        raise _bad_record(record_path, f"missing ({Path(error.filename or record_path).name} not found)")
    except Exception as error:  # wfdb's many parse errors: all mean an unreadable record
        raise _bad_record(record_path, f"unreadable ({type(error).__name__}: {error})")
    expected = (RECORD_SECONDS * sampling_frequency, N_LEADS)
    if signal.shape != expected:
        raise _bad_record(record_path, f"of shape {signal.shape}, not {expected}")
    return signal


def _read_chunk(datafolder, filenames, sampling_frequency):
    return np.stack([read_record(Path(datafolder) / name, sampling_frequency) for name in filenames])


def _read_all(datafolder, filenames, sampling_frequency, workers, progress):
    shape = (len(filenames), RECORD_SECONDS * sampling_frequency, N_LEADS)
    signals = np.empty(shape, dtype=np.float32)
    bar = tqdm(total=len(filenames), desc=f"reading PTB-XL at {sampling_frequency} Hz", unit="record", disable=not progress)
    chunk = max(1, min(256, -(-len(filenames) // (4 * workers))))
    starts = range(0, len(filenames), chunk)
    if workers <= 1:
        for start in starts:
            signals[start:start + chunk] = _read_chunk(datafolder, filenames[start:start + chunk], sampling_frequency)
            bar.update(len(filenames[start:start + chunk]))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {start: pool.submit(_read_chunk, datafolder, filenames[start:start + chunk], sampling_frequency) for start in starts}
            for start in starts:
                block = futures.pop(start).result()  # popped: a block held after its copy would double the memory
                signals[start:start + len(block)] = block
                bar.update(len(block))
    bar.close()
    return signals


def _cache_key(datafolder, filenames, sampling_frequency):
    """What the cached array depends on: the database file's content, the rate and the records."""
    database = (Path(datafolder) / "ptbxl_database.csv").read_bytes()
    return {
        "database_sha256": hashlib.sha256(database).hexdigest(),
        "sampling_frequency": sampling_frequency,
        "filenames_sha256": hashlib.sha256("\n".join(filenames).encode()).hexdigest(),
        "records": len(filenames),
    }


def _write_atomically(path, write):
    """Write beside `path`, flush to disk, then rename: after a crash the file is whole or absent,
    and the next run's cached load reads clean pages instead of waiting on the write-back."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _cache_key_path(cache_dir, sampling_frequency):
    """The JSON beside the cached signals that says what they were read from (`_cache_key`)."""
    return Path(cache_dir) / f"signals_{sampling_frequency}hz.json"


def load_signals(datafolder, database, sampling_frequency=100, cache_dir=None, workers=None, progress=True):
    """Every record of `database` (in its row order) as one float32 array (records, time, 12).

    Values equal `wfdb.rdsamp(...)[0].astype(np.float32)`. With `cache_dir` the array is kept there
    as .npy and reused while the database file, the rate and the record list are unchanged, and is
    returned as a read-only memory map, also right after it was written: the process then holds
    no copy of its own, only the file's pages, which the OS shares and can drop.
    """
    if sampling_frequency not in SAMPLING_FREQUENCIES:
        raise UserError(f"sampling frequency {sampling_frequency} Hz is not one of PTB-XL's: {SAMPLING_FREQUENCIES}.")
    column = "filename_lr" if sampling_frequency == 100 else "filename_hr"
    filenames = list(database[column])
    if cache_dir is None:
        return _read_all(datafolder, filenames, sampling_frequency, workers or os.cpu_count() or 1, progress)

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    array_path = cache_dir / f"signals_{sampling_frequency}hz.npy"
    key_path = _cache_key_path(cache_dir, sampling_frequency)
    key = _cache_key(datafolder, filenames, sampling_frequency)
    if not (key_path.is_file() and array_path.is_file() and json.loads(key_path.read_text()) == key):
        signals = _read_all(datafolder, filenames, sampling_frequency, workers or os.cpu_count() or 1, progress)
        key_path.unlink(missing_ok=True)  # a key may only ever sit beside the array it describes
        _write_atomically(array_path, lambda file: np.save(file, signals))
        _write_atomically(key_path, lambda file: file.write(json.dumps(key, indent=1).encode()))
    return np.load(array_path, mmap_mode="r")


def read_rows(signals, rows):
    """`signals[rows]` as a new float32 array. Read from the cache's memory map, this process's mapping
    of the file's pages is dropped right after (MADV_DONTNEED; the OS keeps the pages cached), so
    that reading folds a chunk at a time never makes the whole file resident in the process."""
    block = np.asarray(signals[rows], dtype=np.float32)
    mapping = getattr(signals, "_mmap", None)  # np.memmap's own mmap object
    if mapping is not None:
        mapping.madvise(mmap.MADV_DONTNEED)
    return block


def record_moments(signals, records_per_chunk=256):
    """(records, 3) float64: each record's number of values, mean and centred sum of squares.

    One pass over chunks of records in float64 (a 500 Hz chunk is 120 MB), each record's squares
    taken about its own mean, so no sum of squares loses the small variance to cancellation.
    """
    values_per_record = int(np.prod(signals.shape[1:]))
    moments = np.empty((len(signals), 3))
    moments[:, 0] = values_per_record
    for start in range(0, len(signals), records_per_chunk):
        chunk = np.asarray(signals[start:start + records_per_chunk], dtype=np.float64).reshape(-1, values_per_record)
        means = chunk.mean(axis=1)
        moments[start:start + len(chunk), 1] = means
        moments[start:start + len(chunk), 2] = np.square(chunk - means[:, None]).sum(axis=1)
    return moments


def load_record_moments(signals, sampling_frequency, cache_dir):
    """`record_moments(signals)` of the signals `load_signals(..., cache_dir=cache_dir)` returned, kept
    beside them under the key it checked, so that they are computed once per cache (also for a cache
    written before moments were kept)."""
    path = Path(cache_dir) / f"signals_{sampling_frequency}hz_moments.npz"
    key = _cache_key_path(cache_dir, sampling_frequency).read_text()
    if path.is_file():
        with np.load(path) as stored:
            if str(stored["key"]) == key:
                return stored["moments"]
    moments = record_moments(signals)
    _write_atomically(path, lambda file: np.savez(file, key=np.array(key), moments=moments))
    return moments
