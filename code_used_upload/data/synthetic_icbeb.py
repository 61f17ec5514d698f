"""A synthetic ICBEB 2018 in the challenge's own files, with learnable fake waveforms.

Tests use it so that the converter, records of any length and the ICBEB experiment run without the
challenge's download. The folder holds what the challenge distributes (and data/icbeb.py converts):
one MATLAB `.mat` per record with the struct `ECG` (sex, age, data: 12 x N in mV at 500 Hz) under
TrainingSet1/, and REFERENCE.csv (one to three label codes per record, CRLF). The records are real
challenge names chosen from the benchmark's split (`icbeb_split.csv`) with the split's labels, so the
converter accepts them and gives them their published ecg_id and fold: in every fold a few records of
each class alone, and multi-label records (two or three labels) making about 7% of them, as in the
whole dataset (476 of 6,877). Lengths are drawn over the challenge's 6 s to 60 s (mostly short, so
that tests stay quick; the shortest and the longest are both there). Every class has a fixed
signature (a frequency and a pattern over the leads, present for the record's whole length), as
data/synthetic.py gives PTB-XL's statements, so the nine labels are learnable from any crop.
"""
import ast
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import savemat

from code_used_upload.data.icbeb import CHALLENGE_CODES, CLASSES, LABEL_COLUMNS, load_split
from code_used_upload.data.synthetic import lead_patterns, record_components, waveform

RATE = 500  # the challenge's sampling frequency
SHORTEST, LONGEST = 6 * RATE, 60 * RATE  # the challenge's range of lengths, in samples
MULTI_LABEL_SHARE = 0.07
# each class's signature frequency (Hz): 4 Hz apart, under the 100 Hz records' Nyquist frequency
CLASS_FREQUENCIES = dict(zip(CLASSES, np.arange(3.0, 39.0, 4.0)))


def class_signatures():
    """class -> (frequency, lead pattern); fixed across seeds."""
    patterns = lead_patterns(np.random.default_rng(2018), len(CLASSES))
    return {code: (CLASS_FREQUENCIES[code], pattern) for code, pattern in zip(CLASSES, patterns)}


def choose_records(per_class, rng):
    """Rows of the split: in each fold `per_class` records of each class alone, and records with two or
    three labels (one with three) from any fold, MULTI_LABEL_SHARE of all; in ecg_id order."""
    split = load_split()
    codes = split["scp_codes"].map(lambda text: list(ast.literal_eval(text)))
    single = split[codes.map(len) == 1].assign(code=codes.str[0])
    chosen = single.groupby(["strat_fold", "code"]).sample(per_class, random_state=rng.integers(2**31))
    n_multi = round(MULTI_LABEL_SHARE / (1 - MULTI_LABEL_SHARE) * len(chosen))
    multi = [split[codes.map(len) == 3].sample(1, random_state=rng.integers(2**31)),
             split[codes.map(len) == 2].sample(n_multi - 1, random_state=rng.integers(2**31))]
    return pd.concat([chosen.drop(columns="code"), *multi]).sort_values("ecg_id", ignore_index=True)


def record_lengths(n, rng):
    """Samples at 500 Hz: mostly 6 s to 15 s, a tenth 15 s to 60 s, the first exactly 6 s and the second 60 s."""
    seconds = np.where(rng.random(n) < 0.9, rng.uniform(6, 15, n), rng.uniform(15, 60, n))
    lengths = np.clip((seconds * RATE).astype(int), SHORTEST, LONGEST)
    lengths[:2] = SHORTEST, LONGEST
    return lengths


def write_synthetic_icbeb(folder, per_class=2, seed=0):
    """Write a synthetic challenge folder into `folder` (TrainingSet1/*.mat and REFERENCE.csv); returns it.
    The same seed gives the same files."""
    folder = Path(folder)
    (folder / "TrainingSet1").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records = choose_records(per_class, rng)
    labels = records["scp_codes"].map(lambda text: list(ast.literal_eval(text)))
    signatures, own = class_signatures(), {code: [code] for code in CLASSES}
    number = {code: number for number, code in CHALLENGE_CODES.items()}
    for name, codes, length in zip(records["filename"], labels, record_lengths(len(records), rng)):
        components = record_components(codes, own, signatures, rng)
        signal = waveform(components, rng.uniform(50, 100), rng.uniform(-0.5, 1.5, 12), RATE, rng, n_samples=length)
        savemat(folder / "TrainingSet1" / f"{name}.mat",
                {"ECG": {"sex": str(rng.choice(["Male", "Female"])), "age": int(rng.integers(18, 90)), "data": signal.T}})
    reference = pd.DataFrame([[name, *[number[code] for code in codes] + [""] * (3 - len(codes))]
                              for name, codes in zip(records["filename"], labels)], columns=["Recording", *LABEL_COLUMNS])
    reference.to_csv(folder / "REFERENCE.csv", index=False, lineterminator="\r\n")
    return folder
