"""predict.py on a real (tiny) trained cell: the evaluation's numbers for the test fold, any record
length of at least one window, one clear message per bad record, and the CLI's output."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import wfdb

from code_used_upload.models import build_model
from code_used_upload.order_results_ptbxl1_upload import main as run_driver
from code_used_upload.predict import main, predict_files
from code_used_upload.data.labels import split_folds, task_labels
from code_used_upload.data.leads import STANDARD_LEADS
from code_used_upload.data.ptbxl import load_database, load_statements
from code_used_upload.data.synthetic import write_synthetic_ptbxl

REPO = Path(__file__).resolve().parents[1]
FS = 100
PTBXL_LEADS = [lead.upper() for lead in STANDARD_LEADS]  # as PTB-XL's headers name them


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(synthetic PTB-XL folder, its superdiagnostic fcn_wang cell after one epoch, output folder)."""
    root = tmp_path_factory.mktemp("predict")
    database = write_synthetic_ptbxl(root / "ptbxl", n_records=120, seed=0, sampling_frequencies=(FS,))
    outputs = root / "outputs"
    assert run_driver(["--datafolder", str(database), "--outputfolder", str(outputs), "--tasks", "superdiagnostic",
                       "--models", "fcn_wang", "--seeds", "0", "--epochs", "1", "--batch_size", "32",
                       "--device", "cpu"]) == 0
    return database, outputs / "exp1.1.1" / "models" / "fcn_wang" / "seed0", outputs


def write_record(folder, name, signal, fs=FS, leads=PTBXL_LEADS):
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=list(leads), p_signal=signal,
                fmt=["16"] * len(leads), adc_gain=[1000.0] * len(leads), baseline=[0] * len(leads),
                write_dir=str(folder))
    return str(Path(folder) / name)


def direct_probabilities(cell, record):
    """Reference: the model applied window by window with a Python loop, max over windows, sigmoid."""
    settings = json.loads((cell / "cell.json").read_text())
    model = build_model(settings["model"], num_classes=len(settings["classes"]))
    model.load_state_dict(torch.load(cell / "model.pt", weights_only=True))
    model.eval()
    scaler = settings["scaler"]
    X = ((wfdb.rdsamp(record)[0].astype(np.float32) - np.float32(scaler["mean"])) / np.float32(scaler["std"])).T
    starts = range(0, X.shape[1] - settings["crop"] + 1, settings["stride"])
    with torch.no_grad():
        logits = torch.stack([model(torch.from_numpy(X[None, :, s:s + settings["crop"]]))[0] for s in starts])
    return torch.sigmoid(logits.amax(dim=0)).numpy()


def test_test_fold_predictions_equal_the_cells_saved_ones(trained):
    database_folder, cell, outputs = trained
    database = load_database(database_folder)
    keep, Y, _ = task_labels(database, load_statements(database_folder), "superdiagnostic")
    test = split_folds(database["strat_fold"].to_numpy()[keep])[2]
    assert np.array_equal(Y[test], np.load(outputs / "exp1.1.1" / "data" / "y_test.npy"))  # same rows, same order
    records = [str(database_folder / name) for name in database["filename_lr"].to_numpy()[keep][test]]

    table, errors = predict_files(cell, records)

    assert errors == []
    assert list(table.index) == records
    assert list(table.columns) == json.loads((cell / "cell.json").read_text())["classes"]
    np.testing.assert_allclose(table.to_numpy(), np.load(cell / "y_test_pred.npy"), rtol=0, atol=1e-6)


def test_any_length_from_one_window_and_bad_records_named(trained, tmp_path):
    database_folder, cell, _ = trained
    source = str(database_folder / "records100" / "00000" / "00001_lr")
    signal = wfdb.rdsamp(source)[0]
    rng = np.random.default_rng(0)
    long = write_record(tmp_path, "long15s", np.concatenate([signal, rng.normal(0, 0.1, (500, 12))]))
    exact = write_record(tmp_path, "exact2_5s", signal[:250])
    permuted = write_record(tmp_path, "permuted", signal[:, ::-1], leads=PTBXL_LEADS[::-1])
    at500hz = write_record(tmp_path, "at500hz", np.repeat(signal, 5, axis=0), fs=500)  # resampled to the cell's 100 Hz
    bad = {
        str(tmp_path / "missing"): "missing",
        write_record(tmp_path, "six_leads", signal[:, :6], leads=PTBXL_LEADS[:6]): "6 leads",
        write_record(tmp_path, "two_seconds", signal[:200]): "2 s long",
    }
    (tmp_path / "garbled.hea").write_text("this is not a header\n")
    bad[str(tmp_path / "garbled")] = "unreadable"

    records = [long, *bad, exact, source + ".hea", permuted, at500hz]
    table, errors = predict_files(cell, records)

    assert list(table.index) == [long, exact, source + ".hea", permuted, at500hz]
    assert [record for record, _ in errors] == list(bad)
    for record, message in errors:
        assert record in message and bad[record] in message
    for record in (long, exact, source):
        np.testing.assert_allclose(table.loc[record if record != source else source + ".hea"],
                                   direct_probabilities(cell, record), rtol=0, atol=1e-6)
    np.testing.assert_allclose(table.loc[permuted], table.loc[source + ".hea"], rtol=0, atol=1e-6)


def test_cli_prints_sorted_probabilities_writes_csv_and_reports_failures(trained, tmp_path, capsys):
    database_folder, cell, _ = trained
    records = [str(database_folder / "records100" / "00000" / f"{i:05d}_lr") for i in (1, 2)]
    expected, _ = predict_files(cell, records)
    csv = tmp_path / "predictions.csv"

    assert main(["--cell", str(cell), *records, "--csv", str(csv)]) == 0

    lines = capsys.readouterr().out.splitlines()
    n_labels = len(expected.columns)
    assert len(lines) == 2 * (1 + n_labels)
    for block, record in enumerate(records):
        header, *rows = lines[block * (1 + n_labels):(block + 1) * (1 + n_labels)]
        assert header == record
        labels = [row.split()[0] for row in rows]
        values = [float(row.split()[1]) for row in rows]
        assert sorted(labels) == sorted(expected.columns)
        assert values == sorted(values, reverse=True)
        assert labels[0] == expected.loc[record].idxmax()
    written = pd.read_csv(csv)
    assert list(written.columns) == ["record", *expected.columns]
    assert list(written["record"]) == records
    np.testing.assert_allclose(written[list(expected.columns)].to_numpy(), expected.to_numpy(), atol=1e-6)

    assert main(["--cell", str(cell), records[0], "--top", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["--cell", str(cell), *records, "--csv", str(csv)]) == 0  # its own table: written again
    header = Path(f"{records[0]}.hea")
    kept = header.read_bytes()
    assert main(["--cell", str(cell), *records, "--csv", str(header)]) == 2  # a record's header, replaced before
    assert "exists and is not a table this tool wrote" in capsys.readouterr().err and header.read_bytes() == kept


def test_exit_codes_and_messages_without_tracebacks(trained, tmp_path, capsys):
    database_folder, cell, _ = trained
    good = str(database_folder / "records100" / "00000" / "00001_lr")
    missing = str(tmp_path / "nothere")

    mixed = subprocess.run([sys.executable, str(REPO / "code_used_upload" / "predict.py"), "--cell", str(cell),
                            good, missing], capture_output=True, text=True, cwd=REPO)
    assert mixed.returncode == 1
    assert mixed.stdout.splitlines()[0] == good
    assert missing in mixed.stderr and "Traceback" not in mixed.stderr

    assert main(["--cell", str(tmp_path), good]) == 2
    bad_cell = capsys.readouterr()
    assert str(tmp_path) in bad_cell.err and "cell.json" in bad_cell.err
    assert bad_cell.out == ""
