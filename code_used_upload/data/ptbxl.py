"""Read a PTB-XL folder: the database, the statements and every record's signal, fast and cached.

The benchmark reads each record with a sequential `wfdb.rdsamp` loop (about a minute per rate and
run). PTB-XL's headers all have one fixed shape (format 16, 12 leads, one gain and baseline per
lead), so we parse them ourselves, read the `.dat` with `np.fromfile` over worker processes and
apply wfdb's own arithmetic; a record in any other shape goes through `wfdb.rdsamp` instead.
Beside the cached signals lie every record's moments (its mean and centred sum of squares), so that
a task's scaler is a sum over its records instead of a pass over every sample (data/task.py).
The reader and the cache take records of any length (`read_records`, `cached_arrays`): ICBEB 2018's
converted records (data/icbeb.py) are read and cached by the same code.
"""

import ast
import contextlib
import hashlib
import json
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb
from tqdm import tqdm

from code_used_upload.data.records import Records, offsets_of, record_moments
from code_used_upload.errors import UserError
from code_used_upload.files import write_atomically

SAMPLING_FREQUENCIES = (100, 500)
RECORD_SECONDS = 10  # every PTB-XL record is 10 s long
N_LEADS = 12
WFDB_NAN = -32768  # format 16's digital value for a missing sample: wfdb turns it into NaN
# (dataset, what to do about a bad record): the end of a bad record's message
PTBXL_SOURCE = ("PTB-XL", "re-run ./get_ptbxl.sh to restore the data")
CACHE_STEM = "signals_{rate}hz"  # the signal cache's files in the cache folder, at each rate

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


def _bad_record(path, problem, source):
    dataset, remedy = source
    return UserError(f"{dataset} record {path} is {problem}: {remedy}.")


@contextlib.contextmanager
def _naming_the_record(record_path, source):
    """Any failure to read the record in the block becomes a UserError naming it (and saying what to do)."""
    try:
        yield
    except UserError:
        raise
    except FileNotFoundError as error:
        raise _bad_record(record_path, f"missing ({Path(error.filename or record_path).name} not found)", source)
    except Exception as error:  # wfdb's many parse errors: all mean an unreadable record
        raise _bad_record(record_path, f"unreadable ({type(error).__name__}: {error})", source)


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


def _read_fast(record_path, sampling_frequency, source):
    """The record's physical signal as wfdb computes it, or None if its header is not the fixed shape."""
    parsed = _parse_fast_header(record_path.with_suffix(".hea"), sampling_frequency)
    if parsed is None:
        return None
    length, gains, baselines = parsed
    digital = np.fromfile(record_path.with_suffix(".dat"), dtype="<i2", count=length * N_LEADS)
    if digital.size != length * N_LEADS:
        raise _bad_record(record_path, f"truncated ({digital.size} of {length * N_LEADS} samples)", source)
    digital = digital.reshape(length, N_LEADS)
    # wfdb's dac: float64 (digital - baseline) / gain, NaN for the missing-sample value
    physical = (digital.astype(np.float64) - baselines) / gains
    physical[digital == WFDB_NAN] = np.nan
    return physical.astype(np.float32)


def _read_wfdb(record_path, sampling_frequency, source):
    signal, fields = wfdb.rdsamp(str(record_path))
    if fields["fs"] != sampling_frequency or signal.shape[1] != N_LEADS:
        raise _bad_record(record_path, f"at {fields['fs']} Hz with {signal.shape[1]} leads", source)
    return signal.astype(np.float32)


def read_record(record_path, sampling_frequency, length, source=PTBXL_SOURCE):
    """One record of `length` samples, (length, 12) float32: the fast reader, or wfdb for a header in
    another shape; a UserError naming the record (and saying what to do, `source`) if it cannot be read."""
    record_path = Path(record_path)
    with _naming_the_record(record_path, source):
        signal = _read_fast(record_path, sampling_frequency, source)
        if signal is None:
            signal = _read_wfdb(record_path, sampling_frequency, source)
    if signal.shape != (length, N_LEADS):
        raise _bad_record(record_path, f"of shape {signal.shape}, not {(length, N_LEADS)}", source)
    return signal


def record_length(record_path, sampling_frequency, source):
    """A record's number of samples, from its header alone (wfdb's header reader for an unusual header)."""
    record_path = Path(record_path)
    with _naming_the_record(record_path, source):
        parsed = _parse_fast_header(record_path.with_suffix(".hea"), sampling_frequency)
        return parsed[0] if parsed is not None else wfdb.rdheader(str(record_path)).sig_len


def _read_chunk(jobs):
    return np.concatenate([read_record(*job) for job in jobs])


def read_records(datafolder, filenames, sampling_frequency, lengths, workers, progress, source=PTBXL_SOURCE):
    """The records `filenames` (of `lengths` samples each) as Records in RAM (`fill_records`)."""
    jobs = [(Path(datafolder) / name, sampling_frequency, length, source) for name, length in zip(filenames, lengths)]
    return fill_records(jobs, lengths, N_LEADS, _read_chunk, workers, progress,
                        f"reading {source[0]} at {sampling_frequency} Hz")


def fill_records(jobs, lengths, n_leads, read_chunk, workers, progress, desc, largest_chunk=256):
    """Records of `lengths` samples each in one flat float32 array, allocated once and filled a chunk at a time
    (no second copy of the data): `read_chunk(jobs[i:j])`, a top-level function, returns records i to j-1
    concatenated, (samples, n_leads); over `workers` processes, with a progress bar."""
    offsets = offsets_of(lengths)
    flat = np.empty((offsets[-1], n_leads), dtype=np.float32)
    chunk = max(1, min(largest_chunk, -(-len(jobs) // (4 * workers))))
    starts = range(0, len(jobs), chunk)

    def fill(start, block):
        flat[offsets[start]:offsets[min(start + chunk, len(jobs))]] = block
        bar.update(min(chunk, len(jobs) - start))

    with tqdm(total=len(jobs), desc=desc, unit="record", disable=not progress) as bar:
        if workers <= 1 or len(starts) == 1:
            for start in starts:
                fill(start, read_chunk(jobs[start:start + chunk]))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {start: pool.submit(read_chunk, jobs[start:start + chunk]) for start in starts}
                for start in starts:
                    fill(start, futures.pop(start).result())  # popped: a block held after its copy doubles memory
    return Records(flat, offsets)


def _read_all(datafolder, filenames, sampling_frequency, workers, progress):
    """PTB-XL's records, all 10 s long: (records, time, 12) float32."""
    length = RECORD_SECONDS * sampling_frequency
    records = read_records(datafolder, filenames, sampling_frequency, [length] * len(filenames), workers, progress)
    return records.flat.reshape(len(filenames), length, N_LEADS)


def cache_key(datafolder, filenames, sampling_frequency, database_file="ptbxl_database.csv"):
    """What the cached array depends on: the database file's content, the rate and the records."""
    database = (Path(datafolder) / database_file).read_bytes()
    return {
        "database_sha256": hashlib.sha256(database).hexdigest(),
        "sampling_frequency": sampling_frequency,
        "filenames_sha256": hashlib.sha256("\n".join(filenames).encode()).hexdigest(),
        "records": len(filenames),
    }


def cached_arrays(cache_dir, stem, key, read, suffixes=("",)):
    """{suffix: array} of `read()`, kept in `cache_dir` as `<stem><suffix>.npy` beside `<stem>.json` (the
    `key` they were read under) and reused while the key is unchanged; returned as read-only memory maps,
    also right after they were written: the process then holds no copy of its own, only the files'
    pages, which the OS shares and can drop."""
    cache_dir = Path(cache_dir)
    key_path, paths = cache_dir / f"{stem}.json", {suffix: cache_dir / f"{stem}{suffix}.npy" for suffix in suffixes}
    if not (key_path.is_file() and all(path.is_file() for path in paths.values())
            and json.loads(key_path.read_text()) == key):
        arrays = read()  # before anything is written: a record that cannot be read leaves no trace
        cache_dir.mkdir(parents=True, exist_ok=True)
        key_path.unlink(missing_ok=True)  # a key may only ever sit beside the arrays it describes
        for suffix, path in paths.items():
            write_atomically(path, lambda file: np.save(file, arrays[suffix]))
        del arrays
        write_atomically(key_path, lambda file: file.write(json.dumps(key, indent=1).encode()))
    return {suffix: np.load(path, mmap_mode="r") for suffix, path in paths.items()}


def load_signals(datafolder, database, sampling_frequency=100, cache_dir=None, workers=None, progress=True):
    """Every record of `database` (in its row order) as one float32 array (records, time, 12).

    Values equal `wfdb.rdsamp(...)[0].astype(np.float32)`. With `cache_dir` the array is kept there
    as .npy and reused while the database file, the rate and the record list are unchanged, and is
    returned as a read-only memory map (`cached_arrays`).
    """
    if sampling_frequency not in SAMPLING_FREQUENCIES:
        raise UserError(f"sampling frequency {sampling_frequency} Hz is not one of PTB-XL's: {SAMPLING_FREQUENCIES}.")
    column = "filename_lr" if sampling_frequency == 100 else "filename_hr"
    filenames = list(database[column])
    workers = workers or os.cpu_count() or 1
    if cache_dir is None:
        return _read_all(datafolder, filenames, sampling_frequency, workers, progress)
    key = cache_key(datafolder, filenames, sampling_frequency)
    return cached_arrays(cache_dir, CACHE_STEM.format(rate=sampling_frequency), key,
                         lambda: {"": _read_all(datafolder, filenames, sampling_frequency, workers, progress)})[""]


def load_record_moments(records, cache_dir, stem, leads=None):
    """`record_moments(records)` of the records `cached_arrays(cache_dir, stem, ...)` returned, kept beside
    them under the key it checked, so that they are computed once per cache (also for a cache written
    before moments were kept); `leads`: the names of the cache's leads that `records` sees, where not all."""
    path = Path(cache_dir) / f"{stem}_moments{'_' + '-'.join(leads) if leads else ''}.npz"
    key = (Path(cache_dir) / f"{stem}.json").read_text()
    if path.is_file():
        with np.load(path) as stored:
            if str(stored["key"]) == key:
                return stored["moments"]
    moments = record_moments(records)
    write_atomically(path, lambda file: np.savez(file, key=np.array(key), moments=moments))
    return moments
