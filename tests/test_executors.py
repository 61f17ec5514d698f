"""Same settings, same numbers, whatever the executor: a cell's CPU threads are a setting of the run,
and cell.json records what the numbers depend on."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from code_used_upload import order_results_ptbxl1_upload as driver
from code_used_upload.training.device import default_threads

REPO = Path(__file__).resolve().parents[1]

# long enough that one thread and two threads give different numbers on this grid (issue 14): rhythm, which
# 2 epochs do not saturate (measured: FCN_wang 0.637 at two threads, 0.617 at one)
GRID_FLAGS = ["--models", "fcn_wang,fcn_wang_ldm", "--tasks", "rhythm", "--seeds", "0",
              "--epochs", "2", "--batch_size", "32", "--device", "cpu"]


def run(datafolder, outputfolder, *flags):
    assert driver.main(["--datafolder", str(datafolder), "--outputfolder", str(outputfolder), *GRID_FLAGS, *flags]) == 0
    return (outputfolder / "results.csv").read_text()


@pytest.fixture(scope="module")
def local_default(synthetic_ptbxl, tmp_path_factory):
    outputfolder = tmp_path_factory.mktemp("local-default")
    return outputfolder, run(synthetic_ptbxl, outputfolder)


def test_cell_json_records_what_the_numbers_depend_on(local_default):
    outputfolder, _ = local_default
    cell = json.loads((outputfolder / "exp3" / "models" / "fcn_wang_ldm" / "seed0" / "cell.json").read_text())
    assert cell["precision"] == "tf32" and cell["deterministic"] is False
    assert cell["threads"] == default_threads()
    assert cell["device"] == "cpu" and cell["device_name"] == "CPU"
    assert cell["torch"] == torch.__version__ and cell["cuda"] == torch.version.cuda
    assert cell["recipe"]["max_lr"] == 1e-2 and cell["recipe"]["aggregate"] == "max"


@pytest.mark.skipif(default_threads() < 2, reason="one core: thread counts cannot be told apart here")
def test_the_thread_count_changes_the_numbers_on_this_grid(synthetic_ptbxl, local_default, tmp_path):
    """Shows that the next test could fail: one thread orders the float sums differently."""
    _, default_table = local_default
    assert run(synthetic_ptbxl, tmp_path, "--cpus-per-cell", "1") != default_table


def test_local_and_ray_give_identical_results_with_default_flags(synthetic_ptbxl, local_default, tmp_path, shared_ray):
    outputfolder, default_table = local_default
    assert run(synthetic_ptbxl, tmp_path, "--executor", "ray") == default_table
    assert shared_ray.is_initialized()  # a Ray the process already ran is used and left running
    for model in ("fcn_wang", "fcn_wang_ldm"):
        cell = f"exp3/models/{model}/seed0/y_test_pred.npy"
        np.testing.assert_array_equal(np.load(tmp_path / cell), np.load(outputfolder / cell))


def test_ray_says_when_a_cell_needs_more_cpus_than_a_node_has(synthetic_ptbxl, tmp_path, capsys, shared_ray):
    status = driver.main(["--datafolder", str(synthetic_ptbxl), "--outputfolder", str(tmp_path), *GRID_FLAGS,
                          "--executor", "ray", "--cpus-per-cell", "512"])
    assert status == 2
    error = capsys.readouterr().err
    assert "512 CPUs" in error and "--cpus-per-cell" in error


FIRST_STEP = """
import hashlib, torch
from code_used_upload.models import build_model
from code_used_upload.training.device import configure_numerics
configure_numerics("tf32", False, 2)
torch.manual_seed(0)
model = build_model("fcn_wang", num_classes=5)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
model.loss(model(torch.randn(32, 12, 250)), (torch.rand(32, 5) < 0.3).float()).backward()
optimizer.step()
print(hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest())
"""


@pytest.mark.skipif(default_threads() < 2, reason="one core: no second thread to race")
def test_every_fresh_process_takes_the_same_first_step():
    """A cell is often the first work of its process (a Ray worker, a new run). Without configure_numerics'
    warm-up of MKL's vector math, 2 of 10 fresh 2-thread processes took another first AdamW step (its
    sqrt raced on MKL's first call): six processes then disagree about three times in four."""
    digests = {subprocess.run([sys.executable, "-c", FIRST_STEP], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout for _ in range(6)}
    assert len(digests) == 1
