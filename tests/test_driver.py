"""The driver end to end on synthetic PTB-XL: learning, determinism, resume, bad input, --prepare-only."""
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from code_used_upload import order_results_ptbxl1_upload as driver
from code_used_upload.configs.flags import constant_comments
from code_used_upload.data.synthetic import write_synthetic_ptbxl
from code_used_upload.evaluation.metrics import UndefinedLabelWarning, read_te_results, write_te_results
from code_used_upload.experiments import cell as cell_module

TINY_FLAGS = ["--tasks", "superdiagnostic", "--epochs", "1", "--batch_size", "64", "--device", "cpu"]


def run_driver(datafolder, outputfolder, *flags):
    return driver.main(["--datafolder", str(datafolder), "--outputfolder", str(outputfolder), *flags])


def cell_dir(outputfolder, model, seed=0, exp="exp1.1.1"):
    return outputfolder / exp / "models" / model / f"seed{seed}"


def folder_digest(folder):
    """Content and modification time of every file in a folder."""
    return {str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_the_same_cell_twice_on_cpu_gives_identical_predictions(synthetic_ptbxl, tmp_path):
    for run in ("first", "second"):
        assert run_driver(synthetic_ptbxl, tmp_path / run, "--models", "fcn_wang_ldm", "--seeds", "3", *TINY_FLAGS) == 0
    first, second = (np.load(cell_dir(tmp_path / run, "fcn_wang_ldm", 3) / "y_test_pred.npy") for run in ("first", "second"))
    assert np.array_equal(first, second)
    other_seed = tmp_path / "other"
    assert run_driver(synthetic_ptbxl, other_seed, "--models", "fcn_wang_ldm", "--seeds", "4", *TINY_FLAGS) == 0
    assert not np.array_equal(first, np.load(cell_dir(other_seed, "fcn_wang_ldm", 4) / "y_test_pred.npy"))


def test_an_interrupted_grid_resumes_and_ends_with_the_uninterrupted_table(synthetic_ptbxl, tmp_path, monkeypatch):
    flags = ["--models", "fcn_wang,fcn_wang_ldm", "--seeds", "0", *TINY_FLAGS]
    assert run_driver(synthetic_ptbxl, tmp_path / "straight", *flags) == 0

    real_train_model = cell_module.train_model
    calls = []

    def interrupted_second_cell(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a kill in the middle of the second cell
        return real_train_model(*args, **kwargs)

    monkeypatch.setattr(cell_module, "train_model", interrupted_second_cell)
    resumed = tmp_path / "resumed"
    assert run_driver(synthetic_ptbxl, resumed, *flags) == 130
    first_cell = cell_dir(resumed, "fcn_wang")
    assert first_cell.is_dir() and not cell_dir(resumed, "fcn_wang_ldm").exists()
    before = folder_digest(first_cell)

    monkeypatch.setattr(cell_module, "train_model", real_train_model)
    assert run_driver(synthetic_ptbxl, resumed, *flags) == 0
    assert folder_digest(first_cell) == before
    assert not list((resumed / "exp1.1.1" / "models" / "fcn_wang_ldm").glob(".seed0.tmp-*"))
    assert (resumed / "results.csv").read_text() == (tmp_path / "straight" / "results.csv").read_text()


def test_prepare_only_writes_the_benchmark_artefacts_and_trains_nothing(synthetic_ptbxl, tmp_path):
    assert run_driver(synthetic_ptbxl, tmp_path, "--prepare-only", "--tasks", "all,rhythm") == 0
    for exp in ("exp0", "exp3"):
        data = tmp_path / exp / "data"
        classes = (data / "classes.txt").read_text().split()
        assert classes == sorted(classes)
        ys = [np.load(data / f"y_{split}.npy", allow_pickle=False) for split in ("train", "val", "test")]
        assert all(y.shape[1] == len(classes) and y.min() >= 0 and y.max() == 1 for y in ys)
        assert all(y.sum(axis=1).min() >= 1 for y in ys)  # records without a label are dropped
        scaler = json.loads((data / "scaler.json").read_text())
        assert scaler["std"] > 0
    assert not (tmp_path / "exp0" / "models" / "fcn_wang").exists()
    assert not (tmp_path / "exp1").exists()


@pytest.mark.parametrize("flags, message", [
    (["--models", "fcn_wang,resnet50"], "resnet50"),
    (["--tasks", "all,rhythms"], "rhythms"),
    (["--sampling_frequency", "250"], "250"),
    (["--epochs", "0"], "--epochs 0"),
    (["--tasks", ""], "no task"),
    (["--executor", "slurm"], "--executor slurm"),
    (["--precision", "fp16"], "--precision fp16"),
    (["--device", "gpu"], "device 'gpu'"),
])
def test_bad_names_get_one_clear_message(synthetic_ptbxl, tmp_path, capsys, flags, message):
    assert run_driver(synthetic_ptbxl, tmp_path, *flags) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_help_lists_the_choices_and_what_each_default_means(capsys):
    with pytest.raises(SystemExit) as exit_:
        driver.main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines wherever the terminal ends
    for choices in ("[fp32 | tf32 | bf16]", "[auto | cpu | cuda | cuda:N]", "[local | ray]", "[100 | 500]"):
        assert choices in text
    assert "(default: each model's recipe: 50, S4 100)" in text
    assert "(default: None)" not in text
    assert "(default: every core)" in text and "(default: start a local Ray)" in text
    comments = constant_comments(driver.__file__)
    for name in driver.CONSTANTS:  # every flag says what it is, from the constant's comment
        assert comments[name] in text, name


def test_a_folder_without_ptbxl_says_how_to_get_it(tmp_path, capsys):
    assert run_driver(tmp_path / "nowhere", tmp_path / "out", "--tasks", "all") == 2
    error = capsys.readouterr().err
    assert "get_ptbxl.sh" in error and "--demo" in error and "Traceback" not in error


SUMMARY_FILES = ["results.md", "results.csv", "results_fmax.csv", "results_macro_auprc.csv", "results.png",
                 "comparison.md", "ldm_effect.csv", "ldm_effect.md", "ldm_effect.png", "exp1.1.1/ldm_per_label.csv",
                 "exp1.1.1/ldm_per_label.png"]


def test_report_only_rebuilds_every_summary_file_from_the_cells_alone(synthetic_ptbxl, tmp_path, capsys):
    flags = ["--models", "fcn_wang,fcn_wang_ldm", "--seeds", "0", *TINY_FLAGS]
    assert run_driver(synthetic_ptbxl, tmp_path, *flags) == 0
    te_results = cell_dir(tmp_path, "fcn_wang") / "results" / "te_results.csv"
    fresh = pd.read_csv(te_results, index_col=0)
    assert list(fresh.columns) == ["macro_auc", "fmax", "macro_auprc"]
    assert "## PTB-XL: Fmax" in (tmp_path / "results.md").read_text()
    for metric, name, csv in (("fmax", "Fmax", "results_fmax.csv"), ("macro_auprc", "Macro-AUPRC", "results_macro_auprc.csv")):
        table = pd.read_csv(tmp_path / csv, index_col=0)
        assert table.loc["FCN_wang", f"{name}(Super-diag.)"] == f"{fresh.loc['point', metric]:.3f}(.000)"  # one seed
        assert f"|{table.index[0]}|{'|'.join(table.iloc[0])}|" in (tmp_path / "results.md").read_text()
    written = {name: (tmp_path / name).read_bytes() for name in SUMMARY_FILES}
    for name in SUMMARY_FILES:
        (tmp_path / name).unlink()
    fresh_bytes = te_results.read_bytes()
    write_te_results(te_results, read_te_results(te_results))  # as a cell evaluated before Fmax and macro-AUPRC
    capsys.readouterr()
    assert run_driver(tmp_path / "no-data-here", tmp_path, *flags, "--report-only") == 0
    assert te_results.read_bytes() == fresh_bytes  # recomputed from the saved predictions, to the bit
    assert {name: (tmp_path / name).read_bytes() for name in SUMMARY_FILES} == written
    assert "FCN_wang+LDM" in capsys.readouterr().out


def test_report_only_without_a_complete_cell_says_so_in_one_line(tmp_path, capsys):
    assert run_driver(tmp_path / "no-data-here", tmp_path, "--report-only") == 2
    error = capsys.readouterr().err
    assert "no complete cell" in error and "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_undefined_labels_are_announced_once_per_task_not_per_cell(tmp_path, recwarn):
    """A tiny synthetic PTB-XL has labels with one class in its validation and test folds."""
    small = write_synthetic_ptbxl(tmp_path / "ptbxl", n_records=100, seed=0, sampling_frequencies=(100,))
    assert run_driver(small, tmp_path / "out", "--models", "fcn_wang,fcn_wang_ldm", "--seeds", "0,1",
                      "--tasks", "superdiagnostic,rhythm", "--epochs", "1", "--batch_size", "16", "--device", "cpu",
                      "--val-every", "1") == 0
    said = [str(w.message) for w in recwarn if issubclass(w.category, UndefinedLabelWarning)]
    assert said, "this data set was meant to have undefined labels"
    assert all(message.startswith(("task superdiagnostic:", "task rhythm:")) for message in said), said
    assert len(said) <= 4  # at most the validation and the test fold of each of the two tasks


S4_EPOCHS = 2


@pytest.fixture(scope="module")
def small_synthetic_ptbxl(tmp_path_factory):
    """300 records: S4 learns synthetic superdiagnostic within its first epoch, and its CPU step is slow
    whatever its batch (1.1 s at 8 and at 16 here): a batch of 48 takes 10 steps, not 30 (19 s a cell, not 35)."""
    return write_synthetic_ptbxl(tmp_path_factory.mktemp("small_ptbxl"), n_records=300, seed=0,
                                 sampling_frequencies=(100,))


def test_s4_learns_with_its_own_recipe(small_synthetic_ptbxl, tmp_path):
    """S4's recipe through the driver: constant lr, the best validation epoch kept, mean over 4 windows. One cell,
    S4 with LDM's head: plain S4 has the same backbone and recipe and the linear head every backbone has (18 s a
    cell on this CPU; its kernel is checked against the authors' in tests/test_s4.py)."""
    model = "s4_ldm"
    flags = ["--models", model, "--tasks", "superdiagnostic", "--seeds", "0", "--epochs", str(S4_EPOCHS),
             "--batch_size", "48", "--device", "cpu"]
    assert run_driver(small_synthetic_ptbxl, tmp_path, *flags) == 0
    cell = cell_dir(tmp_path, model)
    # measured 1.000 (the task saturates; validation 0.969 after the second epoch), 0.1 above the bound
    assert pd.read_csv(cell / "results" / "te_results.csv", index_col=0)["macro_auc"]["point"] >= 0.9
    record = json.loads((cell / "cell.json").read_text())
    assert record["recipe"]["checkpoint"] == "best_val_auc" and record["recipe"]["aggregate"] == "mean"
    assert (record["crop"], record["stride"]) == (250, 250)
    epochs, aucs = zip(*record["val_auc"])
    assert list(epochs) == list(range(1, S4_EPOCHS + 1))
    assert record["kept_epoch"] == epochs[int(np.argmax(aucs))]
