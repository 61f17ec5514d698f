"""Classify your own 12-lead WFDB records with one trained cell of the grid.

    python code_used_upload/predict.py --cell outputs/exp1.1.1/models/fcn_wang_ldm/seed0 my/record1 my/record2
    python code_used_upload/predict.py --cell ... --top 3 --csv predictions.csv my/records/*.hea

A record is a path as wfdb takes it (without .hea/.dat; a trailing .hea or .dat is dropped), of any
length of at least one 2.5 s window (an ICBEB 2018 record of 6 s to 60 s as well as a 10 s PTB-XL
one; a shorter record gets a message). The cell's leads (all twelve, or those it was trained on with
--leads) are picked from the record by name, in any order and case, and a record at another rate than
the cell's is resampled to it as the driver resamples a folder's records (scipy.signal.resample_poly),
so a 12-lead 500 Hz recording goes to a one-lead 100 Hz cell. It is standardised with the cell's scaler
and cut into the evaluation's windows,
aggregated over windows per label as its recipe says (the maximum for the paper's models, the mean
for S4), exactly as the cell's test predictions were made.
A record that cannot be classified gets one message on stderr and the others are still classified;
the exit code is then 1 (2 for a bad --cell).
"""
import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the package importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from code_used_upload.data.folder import RecordProblem, read_leads
from code_used_upload.data.leads import STANDARD_LEADS
from code_used_upload.data.records import Records
from code_used_upload.data.task import Standardiser
from code_used_upload.errors import UserError
from code_used_upload.evaluation.inference import predict_records
from code_used_upload.experiments.trained_cell import CELL_EXAMPLE, read_trained_cell
from code_used_upload.training.device import resolve_device

def load_cell(folder):
    """(settings from cell.json, the model with its trained weights on the CPU) of a complete cell."""
    cell = read_trained_cell(folder, "--cell")
    return {**cell.record, "leads": list(cell.leads)}, cell.model()


def record_path(record):
    """The path wfdb wants: a trailing .hea or .dat (as a shell glob gives) is dropped."""
    record = str(record)
    return record[:-4] if record.endswith((".hea", ".dat")) else record


def read_signal(record, sampling_frequency, window, leads=STANDARD_LEADS):
    """The record's (time, leads) float32 signal: the cell's `leads` by name, at the cell's rate (resampled
    where the record has another), or a UserError saying why it cannot be used."""
    try:
        signal = read_leads(record_path(record), leads, sampling_frequency)
    except RecordProblem as problem:
        raise UserError(f"record {record} {problem}")
    n_time = len(signal)
    if n_time < window:
        raise UserError(f"record {record}: {n_time / sampling_frequency:g} s long ({n_time} samples); the model "
                        f"needs at least {window / sampling_frequency:g} s ({window} samples at {sampling_frequency} Hz)")
    return signal


def predict_files(cell_folder, records, device="cpu"):
    """(probabilities, errors): a DataFrame (record x label) of the records that could be classified,
    in the given order, and a list of (record, message) for those that could not.

    The records, whatever their lengths, go through the model together, as the evaluation's test fold does.
    """
    try:
        device = resolve_device(device)
    except RuntimeError as error:
        raise UserError(str(error))
    settings, model = load_cell(cell_folder)
    model.to(device)
    fs, window, stride = settings["sampling_frequency"], settings["crop"], settings["stride"]
    aggregate, standardise = settings.get("recipe", {}).get("aggregate", "max"), Standardiser(**settings["scaler"])
    signals, errors = [], []
    for record in records:
        try:
            signals.append((str(record), read_signal(record, fs, window, settings["leads"])))
        except UserError as error:
            errors.append((str(record), str(error)))
    probabilities = np.zeros((0, len(settings["classes"])), dtype=np.float32)
    if signals:
        probabilities = predict_records(model, Records.concatenate([signal for _, signal in signals]), window, stride,
                                        device, aggregate=aggregate, standardise=standardise)
    index = pd.Index([record for record, _ in signals], name="record")
    return pd.DataFrame(probabilities, index=index, columns=settings["classes"]), errors


def print_predictions(table, top=None):
    """Per record its labels, most probable first."""
    width = max((len(label) for label in table.columns), default=0)
    for record, probabilities in table.iterrows():
        print(record)
        for label, probability in probabilities.sort_values(ascending=False, kind="stable").head(top).items():
            print(f"  {label:<{width}}  {probability:.4f}")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of labels")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell", required=True, help=f"a trained cell folder, e.g. {CELL_EXAMPLE}")
    parser.add_argument("records", nargs="+", metavar="RECORD", help="WFDB record paths (without extension)")
    parser.add_argument("--top", type=positive_int, default=None, help="print only the K most probable labels")
    parser.add_argument("--csv", default=None, help="also write a table: one row per record, one column per label")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="(default: cpu)")
    return parser.parse_args(argv)


def check_csv(path):
    """Refuse (UserError) a --csv that would replace a file this tool did not write: a record, a table of yours.
    A table it wrote (its first column `record`) is rewritten."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--csv {path} is a folder: give a file name")
    if path.exists():
        with open(path, "rb") as file:
            first = file.readline()
        if not first.startswith(b"record,"):
            raise UserError(f"--csv {path} exists and is not a table this tool wrote: give a new file name, or move "
                            f"it away")


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.csv:
            check_csv(args.csv)
        table, errors = predict_files(args.cell, args.records, device=args.device)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_predictions(table, args.top)
    if args.csv:
        try:
            table.to_csv(args.csv)
        except OSError as error:
            print(f"error: cannot write --csv {args.csv} ({error.strerror})", file=sys.stderr)
            return 2
    for _, message in errors:
        print(f"error: {message}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
