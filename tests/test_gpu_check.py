"""The GPU check's parts that need no GPU: the report, the orchestration, and each part run on a CPU at tiny
sizes. No number here depends on how fast this machine is."""
import inspect
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from code_used_upload import benchmark, gpu_check, measurements
from code_used_upload.models.preact_resnet import PreActResNet
from code_used_upload.reports.tables import table_models

CPU = torch.device("cpu")
TINY_CELLS = gpu_check.Cells(models=("fcn_wang", "fcn_wang_ldm"), records=100, epochs=1, batch_size=32)
HEADER = {"gpu": "NVIDIA H100 80GB HBM3", "torch": "2.13.0+cu128", "cuda": "12.8", "cudnn": 91000, "cpus": 16,
          "python": "3.11.9", "started": "2026-11-26 09:00 UTC", "wall_s": 185.0, "complete": True}


def hand_made_parts():
    steps = {"batch_size": 128, "labels": 71, "warmup": 5, "steps": 20, "eval_records": 512,
             "precisions": ["fp32", "tf32", "bf16"],
             "step_ms": {"fcn_wang": {"fp32": 6.0, "tf32": 4.0, "bf16": 3.0},
                         "lstm": {"fp32": 30.0, "tf32": 24.0}},
             "windows_per_s": {"fcn_wang": 250_000.0, "lstm": 40_000.0},
             "errors": {"lstm bf16": "Traceback ...\ntorch.OutOfMemoryError: CUDA out of memory"}}
    training = {"cells": "fcn_wang on superdiagnostic", "models": ["fcn_wang"], "precisions": ["fp32", "tf32", "bf16"],
                "auc": {"fcn_wang": {"fp32": 0.9912, "tf32": 0.9910, "bf16": 0.8123}},
                "train_loss": {"fcn_wang": {"fp32": 0.1, "tf32": 0.1, "bf16": 0.4}},
                "seconds": {"fp32": 20.0, "tf32": 19.0, "bf16": 18.0}, "errors": {}}
    hmw = {"steps": 20, "errors": {}, "results": {
        "cce": {"tf32": {"step_ms": 10.0, "head_ms": float("nan"), "test_s": 1.0, "epoch_s": 4.91, "run_s": 1227.5}},
        "hmw+cce": {"tf32": {"step_ms": 10.5, "head_ms": 0.4, "test_s": 1.0, "epoch_s": 5.1, "run_s": 1275.0}}}}
    unicon_run = dict(batch_x=64, batch_u=64, iterations=390, epochs=251, warm_up=10, warmup_ms=12.0, eval_ms=2.5,
                      views_ms=1.5, step_ms=30.0, iteration_ms=31.5, test_s=0.5, warmup_epoch_s=9.9,
                      selection_epoch_s=35.1, run_s=8558.1, losses_finite=True, other_unchanged=True)
    unicon = {"steps": 20, "precision": "tf32", "results": {"uc": unicon_run},
              "errors": {"hmw+uc": "Traceback ...\ntorch.OutOfMemoryError: CUDA out of memory"}}
    return {"steps": steps, "data": {"records": 21837, "batch_size": 128, "batches": 50, "ours_ms": 0.25, "loader_ms": 5.0},
            "training": training, "packing": {"error": "Traceback ...\nRuntimeError: the driver ran past 150 s"},
            "hmw": hmw, "unicon": unicon}


def table_row(report, first_cell):
    return next(line for line in report.splitlines() if line.startswith(f"| {first_cell} |"))


def test_report_shows_ratios_failed_measurements_failed_parts_and_parts_not_run():
    report = gpu_check.render_report(HEADER, hand_made_parts())

    assert report.startswith("# GPU check: NVIDIA H100 80GB HBM3")
    assert "torch 2.13.0+cu128, CUDA 12.8" in report and "took 185 s" in report
    # bf16/tf32 = 3/4, fp32/tf32 = 6/4
    assert table_row(report, "fcn_wang").split(" | ")[1:] == ["6.00", "4.00", "3.00", "0.75x", "1.50x", "250,000 |"]
    assert table_row(report, "lstm").split(" | ")[1:] == ["30.00", "24.00", "failed", "-", "1.25x", "40,000 |"]
    assert "- lstm bf16:" in report and "CUDA out of memory" in report
    assert "| 0.250 ms | 5.00 ms | 20.0x faster |" in report
    assert "| fcn_wang | 0.9912 | 0.9910 | 0.8123 | 0.1000 | 0.1000 | 0.4000 |" in report
    packing = report.split("## 3.")[1].split("## 4.")[0]
    assert "**This part failed**" in packing and "the driver ran past 150 s" in packing
    assert "Not run" in report.split("## 4.")[1].split("## 5.")[0]
    assert "| hmw+cce | tf32 | 10.5 ms | 0.40 ms | 5.1 s | 21.2 min |" in report
    assert "| cce | tf32 | 10.0 ms | - | 4.9 s | 20.5 min |" in report
    unicon = report.split("## 6.")[1]
    assert "| uc | 1.50 ms | 30.0 ms | 31.5 ms | 12.0 ms | 2.50 ms | 35.1 s | 2.38 h | yes | yes |" in unicon
    assert "- hmw+uc:" in unicon and "float32 under every --precision" in unicon
    assert "hmw+uc iteration / uc iteration" not in unicon  # one method failed: no ratio
    changed = {**hand_made_parts()["unicon"], "results": {"uc": {**hand_made_parts()["unicon"]["results"]["uc"],
                                                                  "other_unchanged": False}}}
    assert "| yes | **NO** |" in "\n".join(gpu_check.render_unicon(changed))
    assert "still running" in gpu_check.render_report({**HEADER, "complete": False}, hand_made_parts())


def fake_part(real, result, calls):
    """A stand-in for a part that checks it is called as the real one would be, and records the call."""
    def call(*args, **kwargs):
        calls[real.__name__] = inspect.signature(real).bind(*args, **kwargs).arguments
        if isinstance(result, Exception):
            raise result
        return result
    return call


def test_a_failing_part_is_reported_and_the_check_goes_on(monkeypatch, tmp_path):
    """The orchestration, without a GPU: parts faked, one failing; the report is written after every part."""
    output = tmp_path / "gpu-check.md"
    parts, calls = hand_made_parts(), {}
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gpu_check, "describe_machine", lambda device: {k: v for k, v in HEADER.items() if k != "wall_s"})
    for name, result in [("part_step_times", parts["steps"]), ("part_data_time", parts["data"]),
                         ("part_packing", RuntimeError("Ray found no GPU")), ("part_hmw", parts["hmw"]),
                         ("part_unicon", parts["unicon"])]:
        monkeypatch.setattr(gpu_check, name, fake_part(getattr(gpu_check, name), result, calls))
    real_training = gpu_check.part_precision_training

    def training_while_part_1_is_already_on_disk(*args, **kwargs):
        written = output.read_text()
        assert "| fcn_wang | 6.00 |" in written and "still running" in written
        return fake_part(real_training, parts["training"], calls)(*args, **kwargs)

    monkeypatch.setattr(gpu_check, "part_precision_training", training_while_part_1_is_already_on_disk)

    status = benchmark.main(["--gpu-check", "--output", str(output), "--steps", "7"])

    assert status == 1
    assert sorted(calls) == ["part_data_time", "part_hmw", "part_packing", "part_precision_training", "part_step_times",
                             "part_unicon"]
    assert calls["part_unicon"]["device"].type == "cuda"
    steps = calls["part_step_times"]
    assert steps["device"].type == "cuda" and steps["models"] == table_models()
    assert (steps["batch_size"], steps["warmup"], steps["steps"]) == (128, 5, 7)
    assert calls["part_data_time"]["records"] == measurements.FULL["records"]
    report = output.read_text()
    assert "took" in report and "still running" not in report
    assert "Ray found no GPU" in report.split("## 3.")[1].split("## 4.")[0]
    # part 4 still ran, from part 1's tf32 numbers (lstm's failed bf16 step does not matter to it)
    assert "h per seed" in report.split("## 4.")[1]


def test_the_grid_estimate_is_grid_hours_of_the_tf32_times_for_three_seeds():
    parts = hand_made_parts()
    estimate = gpu_check.part_grid_estimate(parts["steps"], parts["data"])
    per_seed = measurements.grid_hours({"fcn_wang": 4.0, "lstm": 24.0}, parts["steps"]["windows_per_s"], 0.25, 128)
    assert math.isclose(estimate["hours_per_seed"], per_seed)
    assert math.isclose(estimate["hours"], 3 * per_seed)
    assert (estimate["models"], estimate["tasks"], estimate["seeds"], estimate["epochs"]) == (2, 6, 3, [50])
    with pytest.raises(RuntimeError, match="part 1 failed"):
        gpu_check.part_grid_estimate({"error": "..."}, parts["data"])


def test_step_times_on_cpu_give_a_time_per_precision():
    result = gpu_check.part_step_times(CPU, ["fcn_wang"], batch_size=2, warmup=1, steps=1, eval_records=2)
    assert result["errors"] == {}
    assert list(result["step_ms"]["fcn_wang"]) == ["fp32", "tf32", "bf16"]
    assert all(math.isfinite(ms) and ms > 0 for ms in result["step_ms"]["fcn_wang"].values())
    assert result["windows_per_s"]["fcn_wang"] > 0


def test_hmw_epoch_times_on_cpu_give_a_time_per_method_and_precision():
    result = gpu_check.part_hmw(CPU, precisions=("fp32", "bf16"), steps=1, warmup=1, batch_size=4, test_images=4)
    assert result["errors"] == {} and list(result["results"]) == ["cce", "hmw+cce"]
    for method, by_precision in result["results"].items():
        assert list(by_precision) == ["fp32", "bf16"]
        for r in by_precision.values():  # an epoch: 50,000 / 4 steps and the 10,000 test images
            assert r["epoch_s"] == pytest.approx(12_500 * r["step_ms"] / 1e3 + r["test_s"])
            assert r["run_s"] == pytest.approx(250 * r["epoch_s"])
            assert math.isnan(r["head_ms"]) == (method == "cce")


@pytest.mark.usefixtures("one_thread")
def test_unicon_iterations_on_cpu_give_times_an_estimate_and_pass_the_checks():
    """Part 6 on a CPU, PreAct-ResNet18 at 1/16 of its widths: the estimate is the docstring's formula."""
    result = gpu_check.part_unicon(CPU, steps=1, warmup=0, eval_images=100,
                                   backbone=lambda: PreActResNet(widths=(4, 8, 16, 32)))
    assert result["errors"] == {} and list(result["results"]) == ["uc", "hmw+uc"]
    for r in result["results"].values():
        assert r["losses_finite"] is True and r["other_unchanged"] is True
        assert all(r[key] > 0 for key in ("warmup_ms", "eval_ms", "views_ms", "step_ms"))
        test_s = 2 * 100 * r["eval_ms"] / 1e3
        assert r["test_s"] == pytest.approx(test_s)
        assert r["warmup_epoch_s"] == pytest.approx(2 * 391 * r["warmup_ms"] / 1e3 + test_s)
        assert r["selection_epoch_s"] == pytest.approx(
            (2 * 2 * 500 * r["eval_ms"] + 2 * 390 * (r["views_ms"] + r["step_ms"])) / 1e3 + test_s)
        assert r["run_s"] == pytest.approx(10 * r["warmup_epoch_s"] + 241 * r["selection_epoch_s"])
    assert "| hmw+uc |" in "\n".join(gpu_check.render_unicon(result))


def test_precision_training_on_cpu_gives_the_same_auc_at_every_precision(tmp_path):
    """On a CPU every precision computes in float32, so any difference would be a bug in how the
    precision reaches the cells (or in how the results are read back)."""
    result = gpu_check.part_precision_training(CPU, tmp_path, TINY_CELLS)
    assert result["errors"] == {}
    for model in TINY_CELLS.models:
        aucs = result["auc"][model]
        assert list(aucs) == ["fp32", "tf32", "bf16"]
        assert all(0 <= auc <= 1 for auc in aucs.values())
        assert len(set(aucs.values())) == 1, aucs
        assert len(set(result["train_loss"][model].values())) == 1
    assert result["auc"]["fcn_wang"]["tf32"] != result["auc"]["fcn_wang_ldm"]["tf32"]  # read from each model's own cell
    assert sorted(result["seconds"]) == ["bf16", "fp32", "tf32"]


def test_packing_on_cpu_runs_both_executors_with_identical_results(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
    result = gpu_check.part_packing(CPU, tmp_path, TINY_CELLS, gpus_per_cell=0, cpus_per_cell=1)
    assert result["local_s"] > 0 and result["ray_s"] > 0
    assert result["results_identical"] is True
    assert result["predictions_identical"] == result["cells_compared"] == 2
    assert "--deterministic" in result["flags"] and "--gpus-per-cell 0" in result["ray_flags"]


def test_a_failing_or_hanging_driver_process_is_reported_with_its_log(tmp_path):
    with pytest.raises(RuntimeError, match=r"exited with status 2(.|\n)*unknown model nope"):
        measurements.run_driver(["--models", "nope"], tmp_path / "bad.log", timeout_s=120)
    with pytest.raises(RuntimeError, match="ran past 1 s and was stopped"):
        measurements.run_driver(["--demo", "--outputfolder", str(tmp_path / "demo")], tmp_path / "slow.log", timeout_s=1)


def test_gpu_check_without_cuda_exits_2_with_one_line(tmp_path):
    output = tmp_path / "gpu-check.md"
    process = subprocess.run([sys.executable, "code_used_upload/benchmark.py", "--gpu-check", "--output", str(output)],
                             cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                             env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert process.returncode == 2
    assert process.stderr.strip().splitlines() == [gpu_check.NO_CUDA.format(torch.__version__)]
    assert "needs a CUDA GPU" in process.stderr
    assert not output.exists()
