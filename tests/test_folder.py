"""Your own ECGs (--dataset folder): a synthetic folder (the project's generator) trained through the driver, its
folds drawn as the benchmark draws them and kept, bad input refused in one line before anything is written, a
lead subset end to end to predict.py, and the real PTB-XL slice laid out as a user's folder."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
import wfdb
from scipy.signal import resample_poly

from code_used_upload import order_results_ptbxl1_upload as driver
from code_used_upload.data.folder import fingerprint, read_leads
from code_used_upload.data.leads import parse_leads, resample
from code_used_upload.data.stratify import draw_folds
from code_used_upload.data.synthetic import write_synthetic_folder, write_wfdb_record
from code_used_upload.errors import UserError
from code_used_upload.predict import predict_files

pytestmark = pytest.mark.usefixtures("one_thread")
FLAGS = ["--dataset", "folder", "--models", "fcn_wang", "--seeds", "0", "--batch_size", "16", "--device", "cpu",
         "--cpus-per-cell", "1"]


def run(datafolder, outputfolder, *flags):
    return driver.main(["--datafolder", str(datafolder), "--outputfolder", str(outputfolder), *FLAGS, *flags])


def cell(outputfolder, experiment="exp_folder", model="fcn_wang", seed=0):
    return outputfolder / experiment / "models" / model / f"seed{seed}"


def macro_auc_of(folder):
    return pd.read_csv(folder / "results" / "te_results.csv", index_col=0).loc["point", "macro_auc"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """150 synthetic records at 100 Hz, labelled with their superclasses, no folds; every three records one
    patient (ids that are not numbers)."""
    folder = write_synthetic_folder(tmp_path_factory.mktemp("folder") / "mine", n_records=150, sampling_frequency=100)
    table = pd.read_csv(folder / "labels.csv", keep_default_na=False)
    table["patient_id"] = [f"p{index // 3}" for index in range(len(table))]
    table.to_csv(folder / "labels.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    """The folder trained for 3 epochs (fcn_wang, batch 16): the output folder."""
    outputs = tmp_path_factory.mktemp("outputs")
    assert run(folder, outputs, "--epochs", "3") == 0
    return outputs


def test_a_folder_trains_with_folds_drawn_as_the_benchmark_draws_them_and_kept(folder, trained, capsys):
    table = pd.read_csv(folder / "labels.csv", keep_default_na=False)
    labelled = table[table["labels"] != ""]
    folds = pd.read_csv(trained / "exp_folder" / "folds.csv")
    assert list(folds["record"]) == list(labelled["record"])  # every labelled record, in the table's order
    expected = draw_folds([labels.split(";") for labels in labelled["labels"]], list(labelled["patient_id"]))
    assert list(folds["fold"]) == list(expected)
    assert (pd.Series(folds["fold"].to_numpy()).groupby(labelled["patient_id"].to_numpy()).nunique() == 1).all()
    assert folds["fold"].value_counts().sort_index().index.tolist() == list(range(1, 11))
    classes = (trained / "exp_folder" / "data" / "classes.txt").read_text().split()
    assert classes == sorted({label for labels in labelled["labels"] for label in labels.split(";")})
    y_test = np.load(trained / "exp_folder" / "data" / "y_test.npy")
    assert len(y_test) == (folds["fold"] == 10).sum()
    # measured 0.911 after 3 epochs of batch 16 (18 steps, one thread); chance is 0.5: the bound sits 0.21 below
    assert macro_auc_of(cell(trained)) >= 0.7
    record = json.loads((cell(trained) / "cell.json").read_text())
    assert record["identity"]["table"]["data_sha256"] == fingerprint(folder)
    assert record["identity"]["table"]["dataset"] == "folder" and "leads" not in record["identity"]["table"]
    assert record["leads"] == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert "|FCN_wang|" in (trained / "results.md").read_text()
    assert pd.read_csv(trained / "results_folder.csv", index_col=0).loc["FCN_wang", "Macro-AUC"].endswith("(.000)")

    kept = {path: path.stat().st_mtime_ns for path in (trained / "exp_folder" / "folds.csv", cell(trained) / "cell.json")}
    capsys.readouterr()
    assert run(folder, trained, "--epochs", "3") == 0  # a rerun: the same folds, the complete cell skipped
    assert {path: path.stat().st_mtime_ns for path in kept} == kept
    assert f"{len(table) - len(labelled)} records without a label left out" in capsys.readouterr().out


def tiny_folder(root, n_records=20):
    """20 records at 100 Hz with a fold column, two records a fold: one labelled MI, the other NORM."""
    folder = write_synthetic_folder(root, n_records=n_records, sampling_frequency=100)
    table = pd.read_csv(folder / "labels.csv", keep_default_na=False)
    table["labels"] = ["NORM" if index >= 10 else "MI" for index in range(len(table))]
    table["fold"] = np.arange(len(table)) % 10 + 1
    table.to_csv(folder / "labels.csv", index=False)
    return folder, table


def edit_table(folder, table, **columns):
    table.assign(**columns).to_csv(folder / "labels.csv", index=False)


def truncate(folder, table):
    path = folder / f"{table['record'][3]}.dat"
    path.write_bytes(path.read_bytes()[:100])


BAD_FOLDERS = {
    "a record that is not there": (lambda folder, table: edit_table(folder, table, record=[
        *table["record"][:5], "records100/nowhere", *table["record"][6:]]), [],
        "labels.csv row 7: record records100/nowhere is missing (nowhere.hea not found): fix or remove its row"),
    "an unreadable header": (lambda folder, table: (folder / f"{table['record'][2]}.hea").write_text("garbled\n"), [],
                             "labels.csv row 4: record records100/00000/00003_lr is unreadable"),
    "a truncated signal": (truncate, [], "labels.csv row 5: record records100/00000/00004_lr is unreadable"),
    "an unknown lead": (lambda folder, table: None, ["--leads", "II,V7"], "--leads II,V7: unknown lead V7"),
    "a record shorter than a window": (lambda folder, table: write_wfdb_record(
        folder / table["record"][0], np.zeros((200, 12)), 100), [],
        "labels.csv row 2: record records100/00000/00001_lr is 2 s long, shorter than one window of 2.5 s"),
    "a table without labels": (lambda folder, table: table.drop(columns="labels").to_csv(
        folder / "labels.csv", index=False), [], "labels.csv lacks the column labels (its columns: record,"),
    "a fold outside 1-10": (lambda folder, table: edit_table(folder, table, fold=[11, *table["fold"][1:]]), [],
                            "labels.csv row 2: fold 11 is not one of 1-10"),
    "a fold in which no label can be scored": (lambda folder, table: edit_table(folder, table, labels=np.where(
        table["fold"] == 9, "MI", table["labels"])), [],
                                               "no label has both a positive and a negative among the 2 validation records (fold 9)"),
    "a split without records": (lambda folder, table: edit_table(folder, table, fold=np.where(
        table["fold"] == 9, 8, table["fold"])), [], "the validation fold 9 hold no labelled record"),
    # a record spelt two ways was two records (one could train and the other test); one outside the folder read
    "one record spelt twice": (lambda folder, table: edit_table(folder, table, record=[
        *table["record"][:5], f"./{table['record'][0]}", *table["record"][6:]]), [],
        "labels.csv row 7 names record records100/00000/00001_lr again (first in row 2)"),
    "a record outside the folder": (lambda folder, table: edit_table(folder, table, record=[
        *table["record"][:5], f"../elsewhere/{table['record'][0]}", *table["record"][6:]]), [],
        "labels.csv row 7: record ../elsewhere/records100/00000/00001_lr is not inside"),
    "a header with no rate": (lambda folder, table: (folder / f"{table['record'][2]}.hea").write_text(
        (folder / f"{table['record'][2]}.hea").read_text().replace(" 12 100 ", " 12 0 ", 1)), [],
        "labels.csv row 4: record records100/00000/00003_lr has the sampling rate 0 Hz in its header"),
    "signals in another unit than a voltage": (lambda folder, table: (folder / f"{table['record'][2]}.hea").write_text(
        (folder / f"{table['record'][2]}.hea").read_text().replace("/mV", "/mmHg")), [],
        "record records100/00000/00003_lr has signals in mmHg, not a voltage"),
    "a ragged row": (lambda folder, table: (folder / "labels.csv").write_text(
        (folder / "labels.csv").read_text() + "a,b,c,d,e,f\n"), [], "labels.csv is not a readable CSV table"),
    "fine-tuning epochs without a cell": (lambda folder, table: None, ["--finetune_epochs", "3"],
                                          "--finetune_epochs 3: the epochs of each stage of fine-tuning a cell"),
}


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_bad_input_is_refused_in_one_line_before_anything_is_written(tmp_path, capsys, case):
    folder, table = tiny_folder(tmp_path / "mine")
    spoil, flags, message = BAD_FOLDERS[case]
    spoil(folder, table)
    assert run(folder, tmp_path / "outputs", "--epochs", "1", *flags) == 2
    error = capsys.readouterr().err
    said = [line for line in error.splitlines() if line.startswith("error: ")]  # beside a progress bar's updates
    assert len(said) == 1 and message in said[0] and "Traceback" not in error, error
    assert not (tmp_path / "outputs").exists()


def test_a_record_lacking_a_lead_is_named(tmp_path, capsys):
    folder, table = tiny_folder(tmp_path / "mine")
    write_wfdb_record(folder / table["record"][4], np.zeros((1000, 12)), 100)
    header = folder / f"{table['record'][4]}.hea"
    header.write_text(header.read_text().replace(" V1\n", " X1\n"))
    assert run(folder, tmp_path / "outputs", "--leads", "ii,v1") == 2
    assert capsys.readouterr().err.strip() == (
        "error: labels.csv row 6: record records100/00000/00005_lr lacks the lead V1 (it has 12 leads: I, II, III, "
        "AVR, AVL, AVF, X1, V2, V3, V4, V5, V6): pass --leads with leads every record has, or fix or remove its row")


def test_leads_are_found_by_name_in_any_order_and_case_and_records_resampled(tmp_path):
    rng = np.random.default_rng(0)
    signal = rng.normal(0, 0.3, (2000, 3))
    wfdb.wrsamp("shuffled", fs=500, units=["mV"] * 3, sig_name=["v1", "avr", "II"], p_signal=signal, fmt=["16"] * 3,
                adc_gain=[1000.0] * 3, baseline=[0] * 3, write_dir=str(tmp_path))
    stored = wfdb.rdsamp(str(tmp_path / "shuffled"))[0]
    read = read_leads(tmp_path / "shuffled", parse_leads(["II", "aVR", "V1"]), 100)
    np.testing.assert_allclose(read, resample_poly(stored[:, [2, 1, 0]], 1, 5, axis=0), rtol=0, atol=1e-6)
    assert read.shape == (400, 3) and read.dtype == np.float32
    t = np.arange(5000) / 500
    tone = resample(np.sin(2 * np.pi * 7 * t)[:, None], 500, 100)[50:-50, 0]  # a 7 Hz sine kept, edges aside
    np.testing.assert_allclose(tone, np.sin(2 * np.pi * 7 * np.arange(1000) / 100)[50:-50], atol=2e-3)
    with pytest.raises(UserError, match="unknown lead v7"):
        parse_leads(["II", "v7"])


def test_one_lead_a_cell_records_takes_and_predict_picks_from_a_12_lead_500_hz_record(tmp_path):
    """--leads ii on a 500 Hz folder trained at 100 Hz: predict.py reads a 12-lead 500 Hz test record as the
    cell's test fold was read, lead II resampled, and gives the cell's own test prediction for it."""
    folder = write_synthetic_folder(tmp_path / "mine", n_records=60, sampling_frequency=500)
    outputs = tmp_path / "outputs"
    assert run(folder, outputs, "--leads", "ii", "--epochs", "1") == 0
    record = json.loads((cell(outputs) / "cell.json").read_text())
    assert record["leads"] == ["II"] and record["identity"]["table"]["leads"] == ["II"]
    weights = torch.load(cell(outputs) / "model.pt", weights_only=True)
    assert weights["backbone.0.0.weight"].shape == (128, 1, 8)  # the first convolution takes one channel
    folds = pd.read_csv(outputs / "exp_folder" / "folds.csv")
    test_records = folds["record"][folds["fold"] == 10].tolist()
    assert wfdb.rdheader(str(folder / test_records[0])).n_sig == 12
    table, errors = predict_files(cell(outputs), [str(folder / name) for name in test_records[:2]])
    assert errors == []
    np.testing.assert_allclose(table.to_numpy(), np.load(cell(outputs) / "y_test_pred.npy")[:2], rtol=1e-5, atol=1e-6)


def test_leads_on_ptbxl_give_the_models_that_many_channels(synthetic_ptbxl_both_rates, tmp_path):
    assert driver.main(["--datafolder", str(synthetic_ptbxl_both_rates), "--outputfolder", str(tmp_path),
                        "--tasks", "superdiagnostic", "--leads", "V1,i", "--models", "fcn_wang", "--seeds", "0",
                        "--epochs", "1", "--batch_size", "16", "--device", "cpu", "--cpus-per-cell", "1"]) == 0
    folder = cell(tmp_path, "exp1.1.1")
    assert json.loads((folder / "cell.json").read_text())["leads"] == ["V1", "I"]
    assert torch.load(folder / "model.pt", weights_only=True)["backbone.0.0.weight"].shape[1] == 2


def real_folder(shared_dir, root):
    """The real PTB-XL slice as a user lays out a folder: its 500 Hz records (a link to records500/), and
    labels.csv with each record's diagnostic superclasses and patient, no folds."""
    from code_used_upload.data.labels import task_labels
    from code_used_upload.data.ptbxl import load_database, load_statements

    sample = shared_dir / "ptbxl-sample"
    root.mkdir()
    (root / "records500").symlink_to(sample / "records500", target_is_directory=True)
    database = load_database(sample)
    keep, Y, classes = task_labels(database, load_statements(sample), "superdiagnostic")
    labels = np.full(len(database), "", dtype=object)
    labels[keep] = [";".join(np.array(classes)[row.astype(bool)]) for row in Y]
    pd.DataFrame({"record": database["filename_hr"], "labels": labels,
                  "patient_id": database["patient_id"].astype(int)}).to_csv(root / "labels.csv", index=False)
    return root


def test_real_ptbxl_records_as_a_folder(shared_dir, tmp_path, capsys):
    """The slice's 500 Hz records read, resampled and split as a user's folder, one epoch trained, and a table
    naming a record that is not there refused in one line (30 epochs on them: docs/your-own-data.md measures)."""
    folder = real_folder(shared_dir, tmp_path / "ptbxl-as-mine")
    table = pd.read_csv(folder / "labels.csv", keep_default_na=False)
    outputs = tmp_path / "outputs"
    assert run(folder, outputs, "--epochs", "1") == 0
    signals = np.load(outputs / "cache" / "folder_signals_100hz.npy", mmap_mode="r")
    first = wfdb.rdsamp(str(shared_dir / "ptbxl-sample" / "records500" / "00000" / "00001_hr"))[0]
    np.testing.assert_allclose(signals[:1000], resample_poly(first, 1, 5, axis=0), rtol=0, atol=1e-5)
    folds = pd.read_csv(outputs / "exp_folder" / "folds.csv").set_index("record")["fold"]
    patients = table.set_index("record")["patient_id"].loc[folds.index]
    assert (folds.groupby(patients.to_numpy()).nunique() == 1).all() and set(folds) == set(range(1, 11))

    table.loc[3, "record"] = "records500/00000/09999_hr"
    table.to_csv(folder / "labels.csv", index=False)
    capsys.readouterr()
    assert run(folder, tmp_path / "again", "--epochs", "1") == 2
    error = capsys.readouterr().err
    assert error.strip() == ("error: labels.csv row 5: record records500/00000/09999_hr is missing (09999_hr.hea not "
                             "found): fix or remove its row")
    assert not (tmp_path / "again").exists()


def relabelled(folder, root, kept):
    """The same records under other labels: a folder of `folder`'s records (linked) whose labels.csv keeps only
    the labels `kept`."""
    root.mkdir()
    (root / "records100").symlink_to(folder / "records100", target_is_directory=True)
    table = pd.read_csv(folder / "labels.csv", keep_default_na=False)
    table["labels"] = [";".join(label for label in labels.split(";") if label in kept) for labels in table["labels"]]
    table.to_csv(root / "labels.csv", index=False)
    return root


def test_the_transfer_experiment_from_scratch_and_fine_tuned_on_a_fraction(folder, trained, tmp_path):
    """The benchmark's transfer experiment in small: NORM / MI of the same records, a fifth and all of the
    training folds, fcn_wang from scratch for 2 epochs and fine-tuned from the 5-class cell for 1 + 1 epochs, into
    one output folder and one transfer table (what fine-tuning gains on real records: docs/your-own-data.md's
    measurement)."""
    normmi, outputs = relabelled(folder, tmp_path / "normmi", ("NORM", "MI")), tmp_path / "outputs"
    common = ["--train_fraction", "0.2,1", "--batch_size", "8"]
    assert run(normmi, outputs, *common, "--epochs", "2") == 0
    assert run(normmi, outputs, *common, "--init_from", str(cell(trained)), "--finetune_epochs", "1") == 0
    kept = [len(np.load(outputs / f"exp_folder{name}" / "data" / "y_train.npy")) for name in ("_fraction0.2", "")]
    assert kept[0] == pytest.approx(0.2 * kept[1], abs=2)
    source = json.loads((cell(trained) / "cell.json").read_text())
    tuned = torch.load(cell(outputs, "exp_folder_finetuned_fraction0.2") / "model.pt", weights_only=True)
    assert not torch.equal(tuned["backbone.0.0.weight"], torch.load(cell(trained) / "model.pt", weights_only=True)["backbone.0.0.weight"])
    record = json.loads((cell(outputs, "exp_folder_finetuned_fraction0.2") / "cell.json").read_text())
    assert record["identity"]["cell"]["init_from"] == source["identity"]
    assert record["scaler"] == source["scaler"] and record["epochs"] == 2 and record["classes"] == ["MI", "NORM"]
    assert record["identity"]["cell"]["train_fraction"] == 0.2 and record["identity"]["table"]["finetune_epochs"] == 1
    table = pd.read_csv(outputs / "transfer.csv")
    assert table[["Method", "Training fraction", "Training records"]].values.tolist() == [
        ["FCN_wang", 1.0, kept[1]], ["FCN_wang", 0.2, kept[0]]]
    assert not table[["From scratch", "Fine-tuned"]].isin(["-"]).any().any()
    assert (outputs / "transfer.png").is_file() and "Fine-tuned: " in (outputs / "transfer.md").read_text()


def test_fine_tuning_another_backbone_is_refused_in_one_line(trained, folder, tmp_path, capsys):
    assert run(folder, tmp_path, "--init_from", str(cell(trained)), "--models", "resnet1d_wang") == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --init_from {cell(trained)} is a fcn_wang cell, whose backbone fcn_wang is not that of resnet1d_wang: "
        "pass --models fcn_wang or fcn_wang_ldm")


def test_records_in_microvolts_are_read_in_millivolts_and_patients_without_an_id_are_their_own(tmp_path):
    rng = np.random.default_rng(0)
    signal = rng.normal(0, 0.4, (1000, 12))
    names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    for name, units, scale in (("mv", "mV", 1.0), ("uv", "uV", 1000.0)):
        wfdb.wrsamp(name, fs=100, units=[units] * 12, sig_name=names, p_signal=signal * scale, fmt=["16"] * 12,
                    adc_gain=[1000.0 / scale] * 12, baseline=[0] * 12, write_dir=str(tmp_path))
    in_mv = read_leads(tmp_path / "mv", parse_leads(names), 100)
    np.testing.assert_allclose(read_leads(tmp_path / "uv", parse_leads(names), 100), in_mv, rtol=0, atol=1e-6)
    folder, table = tiny_folder(tmp_path / "mine")  # ids for half the records, none for the others
    edit_table(folder, table.drop(columns="fold"), patient_id=["p1" if index % 2 else "" for index in range(len(table))])
    from code_used_upload.data.folder import read_label_table
    from code_used_upload.data.stratify import patient_groups
    groups, members = patient_groups(read_label_table(folder)["patient_id"].tolist())
    assert len(members) == 11 and len(set(groups[1::2])) == 1  # p1, and each record without an id on its own


def test_a_damaged_folds_file_or_an_early_refusal_does_not_lock_the_output_folder(tmp_path, capsys):
    folder, table = tiny_folder(tmp_path / "mine")
    edit_table(folder, table.drop(columns="fold"))
    outputs = tmp_path / "outputs"
    assert run(folder, outputs, "--epochs", "1", "--train_fraction", "0.0001") == 2  # after the cache was written
    assert "keeps none of the" in capsys.readouterr().err and (outputs / "cache").is_dir()
    (outputs / "exp_folder").mkdir(exist_ok=True)
    (outputs / "exp_folder" / "folds.csv").write_text("garbage\n")
    assert run(folder, outputs, "--epochs", "1") == 2  # the folder is the toolkit's: its folds.csv is named
    assert "folds.csv is not the folds this toolkit drew" in capsys.readouterr().err
