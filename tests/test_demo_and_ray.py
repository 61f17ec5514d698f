"""The --demo (every model on synthetic PTB-XL, learning), --report-only on it, and a failing cell that
does not stop the others under either executor."""
import json

import numpy as np
import pandas as pd
import pytest

from code_used_upload import order_results_ptbxl1_upload as driver
from code_used_upload.configs.paper import PAPER_MODELS
from code_used_upload.models import model_row
from code_used_upload.configs.tasks import AVERAGE_COLUMN, TASK_COLUMNS
from code_used_upload.experiments.folders import OUTPUT_MARK

FAILING_FLAGS = ["--tasks", "superdiagnostic", "--models", "fcn_wang,fcn_wang_ldm", "--seeds", "0",
                 "--epochs", "1", "--batch_size", "64", "--device", "cpu"]


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory, ray_where_installed):
    """The demo; where Ray is installed (as in CI), two cells at a time with one thread each: 2 min 27 s here
    against 2 min 45 s one after another with two threads."""
    outputfolder = tmp_path_factory.mktemp("demo-local")
    executor = [*ray_where_installed, "--cpus-per-cell", "1"] if ray_where_installed else []
    assert driver.main(["--demo", *executor, "--outputfolder", str(outputfolder)]) == 0
    return outputfolder


def test_the_demo_learns_every_model(local_demo):
    table = pd.read_csv(local_demo / "results.csv", index_col=0)
    assert list(table.index) == [model_row(m) for m in PAPER_MODELS]
    assert list(table.columns) == [TASK_COLUMNS[task] for task in driver.DEMO["TASKS"]] + [AVERAGE_COLUMN]
    means = table[TASK_COLUMNS["superdiagnostic"]].str.extract(r"^([0-9.]+)\(")[0].astype(float)
    # measured on the project's 2-core machine (torch 2.14.1): one thread a cell 0.923 (LSTM+LDM) to 1.000, two
    # threads 0.922 (LSTM+LDM) to 1.000; XResNet1d101+LDM 0.957 and 0.967; the bound leaves 0.17 below the lowest
    assert (means >= 0.75).all(), means.to_dict()
    cells = {model: json.loads((local_demo / "exp1.1.1" / "models" / model / "seed0" / "cell.json").read_text())
             for model in PAPER_MODELS}
    demo = {"epochs": driver.DEMO["EPOCHS"], "batch_size": driver.DEMO["BATCH_SIZE"]}
    for model, cell in cells.items():
        assert {"epochs": cell["epochs"], "batch_size": cell["settings"]["batch_size"]} == \
            {**demo, **driver.DEMO_PER_MODEL.get(model, {})}, model
    assert {(cell["epochs"], cell["settings"]["batch_size"]) for cell in cells.values()} == {(2, 8), (15, 32)}
    assert (local_demo / "results.md").read_text().count("\n|") >= 13
    assert (local_demo / "results.png").stat().st_size > 10_000
    effect = pd.read_csv(local_demo / "ldm_effect.csv", dtype={"seeds": str})
    assert len(effect) == 6 and set(effect["verdict"]) <= {"better", "worse", "unclear"}


@pytest.mark.parametrize("model", ["fcn_wang", "fcn_wang_ldm"])
def test_a_demo_cell_holds_what_the_benchmark_writes_and_its_loss_falls(local_demo, model):
    cell = local_demo / "exp1.1.1" / "models" / model / "seed0"
    result = pd.read_csv(cell / "results" / "te_results.csv", index_col=0)["macro_auc"]
    # the task saturates: measured 1.000 and 0.999 on the project's 2-core machine, 0.1 above the bound
    assert result["point"] >= 0.9
    assert result["lower"] <= result["mean"] <= result["upper"]
    record = json.loads((cell / "cell.json").read_text())
    # measured (two threads): 0.531 -> 0.193 (fcn_wang), 0.608 -> 0.219 (fcn_wang_ldm), a fall of 64%
    assert len(record["train_loss"]) == driver.DEMO["EPOCHS"] and record["train_loss"][-1] < record["train_loss"][0]
    y_test = np.load(local_demo / "exp1.1.1" / "data" / "y_test.npy", allow_pickle=False)
    assert np.load(cell / "y_test_pred.npy").shape == y_test.shape
    for name in ("y_val_pred.npy", "model.pt", "training.png", "results/per_label_auc.csv"):
        assert (cell / name).is_file()
    assert (local_demo / "exp1.1.1" / "models" / "naive" / "results" / "te_results.csv").is_file()


def test_report_only_on_the_finished_demo_rewrites_identical_files(local_demo):
    names = ["results.md", "results.csv", "results.png", "comparison.md", "ldm_effect.csv", "ldm_effect.md",
             "ldm_effect.png", "exp1.1.1/ldm_per_label.csv", "exp1.1.1/ldm_per_label.png"]
    before = {name: (local_demo / name).read_bytes() for name in names}
    assert driver.main(["--demo", "--report-only", "--outputfolder", str(local_demo)]) == 0
    assert {name: (local_demo / name).read_bytes() for name in names} == before


def break_cell(outputfolder, model):
    """A folder where a cell's lock file goes: that cell fails when it starts, the others can be written. (A file
    where its folder must go is refused before the grid trains anything: tests/test_folder_safety.py.)"""
    (outputfolder / "exp1.1.1" / "models" / model / ".seed0.lock").mkdir(parents=True)
    (outputfolder / OUTPUT_MARK).touch()  # the toolkit's output folder, whose tables it may write


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_failing_cell_is_reported_and_the_others_go_on(synthetic_ptbxl, tmp_path, capsys, executor, request):
    if executor == "ray":
        request.getfixturevalue("shared_ray")  # tests/conftest.py
    break_cell(tmp_path, "fcn_wang")
    status = driver.main(["--datafolder", str(synthetic_ptbxl), "--outputfolder", str(tmp_path),
                          "--executor", executor, *FAILING_FLAGS])
    assert status == 1
    assert (tmp_path / "exp1.1.1" / "models" / "fcn_wang_ldm" / "seed0" / "cell.json").is_file()
    captured = capsys.readouterr()
    assert "superdiagnostic/fcn_wang/seed0" in captured.err and "failed" in captured.err
    table = pd.read_csv(tmp_path / "results.csv", index_col=0)
    assert table.loc["FCN_wang", "Macro-AUC(Super-diag.)"] == "-"
    assert table.loc["FCN_wang+LDM", "Macro-AUC(Super-diag.)"] != "-"
