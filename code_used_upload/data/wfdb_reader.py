"""WFDB records of any rate, length and leads, read fast where their header has the common shape.

wfdb's header parser costs about 50 ms a header here (pandas look-ups per signal line), which is 20 minutes
for the headers of 21,000 records, read twice (once to check every record, once to read it). Most records
(PTB-XL's, those wfdb.wrsamp writes) are one signal file in format 16 with a gain and a baseline per signal:
such a header is parsed here and its samples read with `np.fromfile`, with wfdb's own arithmetic (float64
(digital - baseline) / gain, NaN for the missing-sample value), as data/ptbxl.py reads PTB-XL's 12-lead
headers. Every other header and signal goes through wfdb.
"""
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb

WFDB_NAN = -32768  # format 16's value for a missing sample
_GAIN = re.compile(r"^(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?:\((-?\d+)\))?(?:/(\S+))?$")
# a signal's units (its header's, WFDB's default mV where it names none) -> the factor to millivolts, the unit
# every model and cell reads
MILLIVOLTS = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}


class UnitProblem(ValueError):
    """A header whose signals are in units that are not a voltage."""


def millivolts(units):
    """The factors to mV of signals in `units` (None or empty: WFDB's default, mV)."""
    factors = []
    for unit in units:
        factor = MILLIVOLTS.get((unit or "mV").strip().lower())
        if factor is None:
            raise UnitProblem(f"has signals in {unit}, not a voltage: give records in mV, uV or V")
        factors.append(factor)
    return np.array(factors)


@dataclass(frozen=True)
class Header:
    fs: float
    sig_len: int
    sig_name: list
    to_mv: np.ndarray = None  # each signal's factor from its units to mV
    signal_file: str = None   # the one format-16 signal file, where the header has the common shape
    gains: np.ndarray = None
    baselines: np.ndarray = None


def _parse(path):
    """The header at `path`.hea if it has the common shape (one format-16 file, nine fields a signal line);
    None otherwise."""
    lines = [line for line in Path(f"{path}.hea").read_text().splitlines() if line.strip() and not line.startswith("#")]
    record = lines[0].split()
    if len(record) < 4 or "/" in record[0] or not record[1].isdigit() or not record[3].isdigit():
        return None
    try:
        fs = float(record[2])
    except ValueError:
        return None
    signals = [line.split(maxsplit=8) for line in lines[1:1 + int(record[1])]]
    if len(signals) != int(record[1]) or any(len(fields) != 9 or fields[1] != "16" for fields in signals):
        return None
    if len({fields[0] for fields in signals}) != 1:
        return None
    gains = [_GAIN.match(fields[2]) for fields in signals]
    if any(gain is None or float(gain[1]) <= 0 for gain in gains) or not all(f[4].lstrip("-").isdigit() for f in signals):
        return None
    return Header(fs, int(record[3]), [fields[8].strip() for fields in signals], millivolts(gain[3] for gain in gains),
                  signals[0][0], np.array([float(gain[1]) for gain in gains]),
                  np.array([int(gain[2] or fields[4]) for gain, fields in zip(gains, signals)], float))  # else ADC zero


def read_header(path):
    """The header of the record at `path` (without extension): parsed here, or by wfdb where unusual. Raises
    FileNotFoundError without one, and wfdb's errors for one that cannot be parsed."""
    header = _parse(path)
    if header is not None:
        return header
    fields = wfdb.rdheader(str(path))
    names = list(fields.sig_name or [])
    return Header(fields.fs, fields.sig_len or 0, names, millivolts(fields.units or [None] * len(names)))


def read_samples(path, header, columns):
    """(time, columns) float64 physical values of the record's signals `columns` in mV: as wfdb.rdsamp gives
    them, times the factor of their units to mV."""
    if header.signal_file is None:
        return wfdb.rdsamp(str(path), channels=list(columns))[0] * header.to_mv[columns]
    n_signals = len(header.sig_name)
    digital = np.fromfile(Path(path).parent / header.signal_file, dtype="<i2", count=header.sig_len * n_signals)
    if digital.size != header.sig_len * n_signals:
        raise ValueError(f"{header.signal_file} holds {digital.size} of {header.sig_len * n_signals} samples")
    digital = digital.reshape(header.sig_len, n_signals)[:, columns]
    physical = (digital.astype(np.float64) - header.baselines[columns]) / header.gains[columns]
    physical[digital == WFDB_NAN] = np.nan
    return physical * header.to_mv[columns]
