"""Runs know the settings that made them: a complete run or a checkpoint of other settings is refused with one
line naming each difference, in both grids and under both executors, and a table never mixes settings."""
import json
import shutil

import pandas as pd
import pytest

from code_used_upload import order_results_hmw as hmw_grid
from code_used_upload import order_results_ptbxl1_upload as ecg_grid
from code_used_upload import train_hmw
from code_used_upload.configs.identity import differences, identity

ECG_FLAGS = ["--models", "fcn_wang", "--tasks", "superdiagnostic", "--seeds", "0", "--batch_size", "64", "--device", "cpu"]


def last_error_line(capsys):
    error = capsys.readouterr().err.strip()
    assert "Traceback" not in error and len(error.splitlines()) == 1, error
    return error


def folder_digest(folder):
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_differences_name_each_setting_old_and_new():
    old = identity({"epochs": 1, "hmw": {"if_aum": True}}, {"seed": 0, "data_sha256": "a" * 64})
    new = identity({"epochs": 2, "hmw": {"if_aum": False}}, {"seed": 0, "data_sha256": "b" * 64})
    # the settings asked for first, then what follows from them; fingerprints cut to 12 digits
    assert differences(old, new) == ["epochs 1 -> 2", "hmw.if_aum true -> false", "data_sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb"]
    assert differences(old, old) == [] and differences(identity({"m": (1, 2)}, {}), identity({"m": [1, 2]}, {})) == []


def test_the_ecg_grid_refuses_a_rerun_with_other_epochs_or_rate(synthetic_ptbxl, tmp_path, capsys):
    common = ["--datafolder", str(synthetic_ptbxl), "--outputfolder", str(tmp_path), *ECG_FLAGS]
    assert ecg_grid.main([*common, "--epochs", "1"]) == 0
    cell = tmp_path / "exp1.1.1" / "models" / "fcn_wang" / "seed0"
    before = folder_digest(tmp_path / "exp1.1.1")
    assert ecg_grid.main([*common, "--epochs", "1"]) == 0  # the same settings: nothing to do, nothing rewritten
    capsys.readouterr()
    for flags, named in ((["--epochs", "2"], "epochs 1 -> 2"),
                         (["--epochs", "1", "--sampling_frequency", "500"], "sampling_frequency 100 -> 500")):
        assert ecg_grid.main([*common, *flags]) == 2
        error = last_error_line(capsys)
        assert str(cell) in error and named in error and "--outputfolder" in error and "delete" in error
        assert folder_digest(tmp_path / "exp1.1.1") == before  # nothing overwritten, not even the task's data
    record = json.loads((cell / "cell.json").read_text())
    assert record["identity"]["table"]["sampling_frequency"] == 100 and record["identity"]["cell"]["epochs_trained"] == 1
    assert "Settings of every cell in this table: " in (tmp_path / "results.md").read_text()


def test_the_ecg_grid_refuses_under_ray_before_starting_it(synthetic_ptbxl, tmp_path, capsys, monkeypatch):
    common = ["--datafolder", str(synthetic_ptbxl), "--outputfolder", str(tmp_path), *ECG_FLAGS]
    assert ecg_grid.main([*common, "--epochs", "1"]) == 0
    from code_used_upload.experiments import ray_executor
    monkeypatch.setattr(ray_executor, "run_grid_on_ray", lambda *args: pytest.fail("Ray started despite the refusal"))
    capsys.readouterr()
    assert ecg_grid.main([*common, "--epochs", "2", "--executor", "ray"]) == 2
    assert "epochs 1 -> 2" in last_error_line(capsys)


def test_a_report_never_mixes_cells_of_different_settings(synthetic_ptbxl, tmp_path, capsys):
    common = ["--datafolder", str(synthetic_ptbxl), "--tasks", "superdiagnostic", "--seeds", "0", "--batch_size", "64",
              "--device", "cpu"]
    for model, epochs in (("fcn_wang", "1"), ("fcn_wang_ldm", "2")):  # each its own folder: both runs are allowed
        assert ecg_grid.main([*common, "--models", model, "--epochs", epochs, "--outputfolder", str(tmp_path / model)]) == 0
    shutil.copytree(tmp_path / "fcn_wang_ldm" / "exp1.1.1" / "models" / "fcn_wang_ldm",
                    tmp_path / "fcn_wang" / "exp1.1.1" / "models" / "fcn_wang_ldm")
    capsys.readouterr()
    assert ecg_grid.main(["--report-only", "--outputfolder", str(tmp_path / "fcn_wang"), "--models",
                          "fcn_wang,fcn_wang_ldm", "--tasks", "superdiagnostic"]) == 2
    assert "mix runs of different settings" in (error := last_error_line(capsys)) and "epochs 1 -> 2" in error


HMW_RUN = ["--dataset", "digits", "--noise_mode", "sym", "--method", "hmw+cce", "--seed", "3", "--num_epochs", "4",
           "--milestones", "2/3", "--device", "cpu"]


def test_an_interrupted_hmw_run_restarted_with_other_flags_refuses(tmp_path, capsys, interrupt_noisy_run):
    """The authors' README names one --check_loc for --if_aum 1 and --if_aum 0: the second must not resume the first."""
    folder = tmp_path / "run"
    interrupt_noisy_run(2)
    assert train_hmw.main([*HMW_RUN, "--r", "0.6", "--if_aum", "1", "--check_loc", str(folder)]) == 130
    interrupt_noisy_run(None)
    checkpoint = tmp_path / ".run.checkpoint.pt"
    saved = checkpoint.read_bytes()
    capsys.readouterr()
    assert train_hmw.main([*HMW_RUN, "--r", "0.2", "--if_aum", "0", "--check_loc", str(folder)]) == 2
    error = last_error_line(capsys)
    assert str(checkpoint) in error and "r 0.6 -> 0.2" in error and "hmw.if_aum true -> false" in error
    assert "--check_loc" in error and checkpoint.read_bytes() == saved and not folder.exists()

    # a complete run asked for again: the same flags do nothing, other flags are refused
    assert train_hmw.main([*HMW_RUN, "--r", "0.6", "--if_aum", "1", "--check_loc", str(folder)]) == 0
    complete = folder_digest(folder)
    assert train_hmw.main([*HMW_RUN, "--r", "0.6", "--if_aum", "1", "--check_loc", str(folder)]) == 0
    assert "holds this run already" in capsys.readouterr().out and folder_digest(folder) == complete
    assert train_hmw.main([*HMW_RUN, "--r", "0.2", "--if_aum", "0", "--check_loc", str(folder)]) == 2
    assert "r 0.6 -> 0.2" in last_error_line(capsys) and folder_digest(folder) == complete


def test_the_hmw_grid_refuses_other_settings_and_names_settings_one_way(tmp_path, capsys):
    common = ["--settings", "digits/sym0.40", "--methods", "cce", "--seeds", "0", "--epochs", "2", "--device", "cpu",
              "--cpus-per-cell", "1", "--outputfolder", str(tmp_path)]
    assert hmw_grid.main(common) == 0
    results = pd.read_csv(tmp_path / "results.csv")
    assert results["setting"].tolist() == ["digits/sym0.4"] and (tmp_path / "digits" / "sym0.4").is_dir()
    assert "|cce|" in (tmp_path / "results.md").read_text()  # the run is in the table, not dropped by its spelling
    capsys.readouterr()
    assert hmw_grid.main([*common, "--lr", "0.01"]) == 2
    assert "recipe.max_lr 0.02 -> 0.01" in (error := last_error_line(capsys)) and "lr recipe" not in error
    # the same run spelled out (the recipe's own rate and milestones), and HMW's options, which cce does not use
    cell = tmp_path / "digits" / "sym0.4" / "models" / "cce" / "seed0"
    before = folder_digest(cell)
    assert hmw_grid.main([*common, "--lr", "0.02", "--milestones", "50/80", "--alpha_nmw", "10"]) == 0
    assert folder_digest(cell) == before
    assert hmw_grid.main([*common, "--methods", "hmw+cce", "--alpha_nmw", "10"]) == 0  # a row of its own
    capsys.readouterr()
    assert hmw_grid.main([*common, "--methods", "hmw+cce"]) == 2
    assert "hmw.alpha 10.0 -> 100.0" in last_error_line(capsys)
