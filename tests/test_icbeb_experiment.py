"""ICBEB 2018 end to end on a synthetic challenge folder: converted, read at the records' own lengths, trained
and scored through the driver (--dataset icbeb) with the challenge's metrics, reported beside the benchmark's
published values, and classified by predict.py."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import wfdb

from code_used_upload import order_results_ptbxl1_upload as driver
from code_used_upload.data import icbeb
from code_used_upload.data.icbeb import CLASSES, convert, icbeb_labels, load_icbeb_database, load_icbeb_records
from code_used_upload.data.synthetic_icbeb import write_synthetic_icbeb
from code_used_upload.errors import UserError
from code_used_upload.predict import predict_files

EPOCHS = 3
MODELS = ["fcn_wang", "fcn_wang_ldm", "resnet1d_wang"]
# one CPU thread per cell: batches of 16 gain little from a second one, and on a busy machine two threads
# stall each other (fcn_wang's step here: 97 ms with one thread, 643 ms with two while another process ran)
FLAGS = ["--dataset", "icbeb", "--models", ",".join(MODELS), "--seeds", "0", "--epochs", str(EPOCHS),
         "--batch_size", "16", "--device", "cpu", "--cpus-per-cell", "1"]
SUMMARY_FILES = ["results.md", "results_icbeb.csv", "comparison.md", "ldm_effect.csv", "ldm_effect.md",
                 "ldm_effect.png", "exp_ICBEB/ldm_per_label.csv", "exp_ICBEB/ldm_per_label.png"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """194 synthetic records in the challenge's files, converted as ./get_icbeb.sh converts the real ones."""
    root = tmp_path_factory.mktemp("icbeb")
    return convert(write_synthetic_icbeb(root / "raw"), root / "ICBEB", workers=2, progress=False)


@pytest.fixture(scope="module")
def outputfolder(converted, tmp_path_factory):
    """One driver run of the three models, as the tests below read it."""
    folder = tmp_path_factory.mktemp("outputs")
    assert driver.main(["--datafolder", str(converted), "--outputfolder", str(folder), *FLAGS]) == 0
    return folder


def cell(outputfolder, model):
    return outputfolder / "exp_ICBEB" / "models" / model / "seed0"


def test_the_synthetic_challenge_has_its_lengths_labels_and_folds(converted, tmp_path):
    database = load_icbeb_database(converted)
    Y, classes = icbeb_labels(database)
    lengths = load_icbeb_records(converted, database, 100, tmp_path).lengths
    assert lengths.min() == 600 and lengths.max() == 6000 and len(np.unique(lengths)) > 150  # 6 s to 60 s
    labels_per_record = Y.sum(axis=1)
    assert 0.05 < (labels_per_record > 1).mean() < 0.09 and labels_per_record.max() == 3  # about 7%, as the challenge
    for fold in range(1, 11):
        assert (Y[database["strat_fold"].to_numpy() == fold].sum(axis=0) >= 2).all(), fold


def test_records_are_read_at_their_own_lengths_as_wfdb_reads_them_and_cached(converted, tmp_path, monkeypatch):
    database = load_icbeb_database(converted)
    reads = []
    real = icbeb.read_records
    monkeypatch.setattr(icbeb, "read_records", lambda *args: reads.append(1) or real(*args))
    for rate in (100, 500):
        records = load_icbeb_records(converted, database, rate, tmp_path, workers=2, progress=False)
        for row in (0, 1, 77, len(database) - 1):
            expected = wfdb.rdsamp(str(converted / f"records{rate}" / str(database.index[row])))[0].astype(np.float32)
            np.testing.assert_array_equal(records.take([row]).flat, expected)
    again = load_icbeb_records(converted, database, 100, tmp_path, progress=False)
    assert reads == [1, 1] and isinstance(again.flat, np.memmap) and again.offsets[-1] == len(again.flat)
    assert sorted(path.name for path in tmp_path.iterdir() if "100hz" in path.name) == [
        "icbeb_signals_100hz.json", "icbeb_signals_100hz.npy", "icbeb_signals_100hz_offsets.npy"]


def test_a_damaged_converted_record_is_named_with_what_to_do(converted, tmp_path):
    folder = shutil.copytree(converted, tmp_path / "ICBEB")
    database = load_icbeb_database(folder)
    damaged = folder / "records100" / f"{database.index[5]}.dat"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    with pytest.raises(UserError, match=rf"ICBEB 2018 record {folder / 'records100' / str(database.index[5])} is "
                                        r"truncated .*run ./get_icbeb.sh again"):
        load_icbeb_records(folder, database, 100, tmp_path / "cache", workers=1, progress=False)


def test_every_model_learns_icbeb_and_is_scored_with_the_challenges_metrics(outputfolder):
    naive = pd.read_csv(outputfolder / "exp_ICBEB" / "models" / "naive" / "results" / "te_results.csv", index_col=0)
    for model in MODELS:
        results = pd.read_csv(cell(outputfolder, model) / "results" / "te_results.csv", index_col=0)
        # the benchmark's exp_ICBEB, then the two it does not compute
        assert list(results.columns) == ["F_beta_macro", "G_beta_macro", "macro_auc", "fmax", "macro_auprc"]
        assert list(results.index) == ["point", "mean", "lower", "upper"]
        assert (results.loc["lower"] <= results.loc["mean"]).all() and (results.loc["mean"] <= results.loc["upper"]).all()
        point = results.loc["point"]
        # measured after 3 epochs: macro-AUC 0.971 to 0.998, F_beta 0.887 to 0.971, G_beta 0.787 to 0.926 (chance:
        # AUC 0.5; the naive prevalence row: F_beta 0.40, G_beta 0.12); the bounds sit 0.17, 0.29 and 0.34 below
        assert point["macro_auc"] >= 0.8, model
        assert point["F_beta_macro"] >= 0.6 > naive.loc["point", "F_beta_macro"], model
        assert point["G_beta_macro"] >= 0.45 > naive.loc["point", "G_beta_macro"], model
        # measured: Fmax 0.872 to 0.988, macro-AUPRC 0.968 to 0.991 (naive 0.24 and 0.13); bounds 0.27 and 0.37 below
        assert point["fmax"] >= 0.6 > naive.loc["point", "fmax"], model
        assert point["macro_auprc"] >= 0.6 > naive.loc["point", "macro_auprc"], model


def test_an_icbeb_cell_has_the_benchmarks_layout_and_its_thresholds(outputfolder):
    data = outputfolder / "exp_ICBEB" / "data"
    assert (data / "classes.txt").read_text().split() == CLASSES
    y_train = np.load(data / "y_train.npy")
    folder = cell(outputfolder, "fcn_wang")
    for name in ("y_val_pred.npy", "y_test_pred.npy", "model.pt", "training.png", "results/per_label_auc.csv"):
        assert (folder / name).is_file(), name
    assert np.load(folder / "y_train_pred.npy").shape == y_train.shape  # the thresholds were fitted on these
    record = json.loads((folder / "cell.json").read_text())
    assert (record["sampling_frequency"], record["crop"], record["stride"]) == (100, 250, 125)
    assert len(record["thresholds"]) == 9 and set(record["test_challenge"]) == {"F_beta_macro", "G_beta_macro"}


def test_the_reports_show_icbeb_beside_the_benchmarks_published_values(outputfolder, converted, capsys):
    markdown = (outputfolder / "results.md").read_text()
    assert markdown.startswith("## ICBEB 2018") and "|Method|Macro-AUC|F_beta=2|G_beta=2|Fmax|Macro-AUPRC|" in markdown
    table = pd.read_csv(outputfolder / "results_icbeb.csv", index_col=0)
    assert list(table.index) == ["Resnet1d_wang", "FCN_wang", "FCN_wang+LDM"]
    points = pd.read_csv(cell(outputfolder, "fcn_wang") / "results" / "te_results.csv", index_col=0).loc["point"]
    for column, header in (("macro_auc", "Macro-AUC"), ("fmax", "Fmax"), ("macro_auprc", "Macro-AUPRC")):
        assert table.loc["FCN_wang", header] == f"{points[column]:.3f}(.000)"  # one seed
        assert f"|{table.loc['FCN_wang', header]}|" in markdown
    comparison = (outputfolder / "comparison.md").read_text()
    assert f"|FCN_wang|Macro-AUC|1|{table.loc['FCN_wang', 'Macro-AUC']}|0.957(08)|" in comparison
    assert "|Resnet1d_wang|G_beta=2|1|" in comparison and "doi:10.1109/JBHI.2020.3022989" in comparison
    effect = pd.read_csv(outputfolder / "ldm_effect.csv")
    assert effect[["task", "backbone", "seeds"]].values.tolist() == [["ICBEB 2018", "fcn_wang", 0]]
    assert len(pd.read_csv(outputfolder / "exp_ICBEB" / "ldm_per_label.csv")) == 9

    written = {name: (outputfolder / name).read_bytes() for name in SUMMARY_FILES}
    for name in SUMMARY_FILES:
        (outputfolder / name).unlink()
    capsys.readouterr()
    assert driver.main(["--outputfolder", str(outputfolder), *FLAGS, "--report-only"]) == 0
    assert {name: (outputfolder / name).read_bytes() for name in SUMMARY_FILES} == written
    assert "FCN_wang+LDM" in capsys.readouterr().out


def test_predict_classifies_records_of_other_lengths_as_the_test_fold_was(outputfolder, converted, tmp_path):
    database = load_icbeb_database(converted)
    test_ids = database.index[database["strat_fold"] == 10]
    records = load_icbeb_records(converted, database, 100, outputfolder / "cache")
    lengths = records.lengths[np.flatnonzero(database["strat_fold"].to_numpy() == 10)]
    rows = [int(np.argmin(lengths)), int(np.argmax(lengths))]  # 6 s to 60 s, neither 10 s
    assert lengths[rows[0]] != 1000 != lengths[rows[1]]
    paths = [converted / "records100" / str(test_ids[row]) for row in rows]
    short = tmp_path / "short"
    wfdb.wrsamp("short", fs=100, units=["mV"] * 12, sig_name=icbeb.LEADS, p_signal=np.zeros((200, 12)),
                fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(tmp_path))
    table, errors = predict_files(cell(outputfolder, "fcn_wang"), [*paths, short])
    expected = np.load(cell(outputfolder, "fcn_wang") / "y_test_pred.npy")[rows]
    np.testing.assert_allclose(table.to_numpy(), expected, rtol=1e-5, atol=1e-6)
    assert list(table.columns) == CLASSES
    assert errors == [(str(short), f"record {short}: 2 s long (200 samples); the model needs at least 2.5 s "
                                   "(250 samples at 100 Hz)")]


@pytest.mark.parametrize("flags, message", [
    (["--dataset", "icbeb", "--tasks", "rhythm"], "unknown task rhythm; valid tasks: all"),
    (["--dataset", "mimic"], "--dataset mimic: use one of ptbxl, icbeb"),
    (["--dataset", "icbeb", "--demo"], "--demo runs on a synthetic PTB-XL; drop --dataset icbeb"),
])
def test_bad_dataset_flags_get_one_clear_message(tmp_path, capsys, flags, message):
    assert driver.main(["--outputfolder", str(tmp_path), *flags]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_a_folder_without_icbeb_says_how_to_get_it(tmp_path, capsys):
    assert driver.main(["--dataset", "icbeb", "--datafolder", str(tmp_path / "nowhere"),
                        "--outputfolder", str(tmp_path / "out"), "--device", "cpu"]) == 2
    error = capsys.readouterr().err
    assert "./get_icbeb.sh" in error and str(tmp_path / "nowhere") in error and "Traceback" not in error


def test_icbeb_defaults_to_its_folder_and_its_one_task(capsys):
    args = driver.parse_args(["--dataset", "icbeb"])
    assert (args.DATAFOLDER, args.TASKS) == ("data/ICBEB/", ["all"])
    assert (driver.parse_args([]).DATAFOLDER, driver.parse_args(["--datafolder=x", "--dataset=icbeb"]).DATAFOLDER) == (
        "data/ptbxl/", "x")
    with pytest.raises(SystemExit):
        driver.main(["--help"])
    assert "[ptbxl | icbeb | folder]" in " ".join(capsys.readouterr().out.split())
