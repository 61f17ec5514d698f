"""The benchmark runs end to end and reports what it measured; no test here depends on how fast anything is."""
import math
from functools import partial

import numpy as np
import pytest

from code_used_upload import benchmark, measurements
from code_used_upload.data.synthetic import write_synthetic_ptbxl
from code_used_upload.models.preact_resnet import PreActResNet


def test_quick_run_builds_the_table(tmp_path):
    output = tmp_path / "benchmark.md"
    results = benchmark.main(["--quick", "--records", "200", "--models", "fcn_wang,fcn_wang_ldm",
                              "--eval-records", "8", "--threads", "1", "--output", str(output)])

    assert results["loading"]["identical"] is True
    times = [*results["loading"].values(), *results["batches"].values(), *results["step_ms"].values(),
             *results["windows_per_s"].values(), results["grid_hours"]]
    times = [value for value in times if not isinstance(value, bool)]
    assert all(math.isfinite(value) and value > 0 for value in times)
    assert list(results["step_ms"]) == ["fcn_wang", "fcn_wang_ldm"]

    measurements = [row[0] for row in results["rows"]]
    assert measurements[:3] == ["cold load, 200 records at 100 Hz", "cached load (second load, read into memory)",
                                "data time per batch of 32"]
    assert measurements[3:] == ["training step fcn_wang", "training step fcn_wang_ldm", "evaluation fcn_wang",
                                "evaluation fcn_wang_ldm",
                                "estimated grid: 2 models x 6 tasks x 1 seed x each recipe's epochs"]
    assert all(len(row) == 5 for row in results["rows"])
    ldm_row = results["rows"][4]
    expected_ratio = results["step_ms"]["fcn_wang_ldm"] / results["step_ms"]["fcn_wang"]
    assert ldm_row[3] == f"{expected_ratio:.2f}x (LDM/baseline)"
    assert "arrays identical: yes" in results["rows"][0][4]

    table = output.read_text()
    assert table == results["table"]
    assert "| measurement | ours | compared with | ratio | notes |" in table
    assert sum(line.startswith("| ") for line in table.splitlines()) == 1 + len(results["rows"])


def test_identical_flag_catches_a_differing_array(tmp_path, monkeypatch):
    datafolder = write_synthetic_ptbxl(tmp_path / "ptbxl", n_records=12, seed=0, sampling_frequencies=(100,))
    real_loader = benchmark.load_like_reference
    loading, _ = benchmark.measure_loading(datafolder, tmp_path / "cache", workers=1)
    assert loading["identical"] is True

    def off_by_one_sample(datafolder, database):
        signals = real_loader(datafolder, database)
        signals[3, 500, 7] += 0.001
        return signals

    monkeypatch.setattr(benchmark, "load_like_reference", off_by_one_sample)
    loading, _ = benchmark.measure_loading(datafolder, tmp_path / "cache2", workers=1)
    assert loading["identical"] is False


def test_grid_hours_by_hand():
    # one batch holds the whole "all" training fold: 1 step per epoch there, none in the smaller tasks
    batch = measurements.TASK_RECORDS["all"][0]
    assert all(train < batch for task, (train, _) in measurements.TASK_RECORDS.items() if task != "all")
    # 1 s per step (0.9 s model + 0.1 s data); 7 windows per record at 7 windows/s: 1 s per evaluated record
    hours = measurements.grid_hours({"fcn_wang": 900.0}, {"fcn_wang": 7.0}, data_ms=100.0, batch_size=batch)
    evaluated = sum(evaluated for _, evaluated in measurements.TASK_RECORDS.values())
    assert np.isclose(hours, (50 * 1.0 + evaluated * 1.0) / 3600)


@pytest.mark.usefixtures("one_thread")
def test_hmw_run_adds_unicon_rows_beside_the_hmw_cce_step(tmp_path, monkeypatch):
    """--hmw --quick end to end with the noisy-label epoch faked (gpu_check's part 5 test measures it) and
    UniCon measured for real on a PreAct-ResNet18 at 1/16 of its widths: its rows, their ratio to the
    hmw+cce step and the estimate's sizes."""
    noisy = {"cce": dict(step_ms=100.0, head_ms=float("nan"), test_s=2.0, epoch_s=41.1, run_s=10275.0),
             "hmw+cce": dict(step_ms=200.0, head_ms=0.5, test_s=2.0, epoch_s=80.2, run_s=20050.0)}
    calls = []

    def fake_noisy_epoch(method, device, steps, warmup):
        calls.append((method, steps, warmup))
        return noisy[method]

    monkeypatch.setattr(benchmark, "measure_noisy_epoch", fake_noisy_epoch)
    monkeypatch.setattr(benchmark, "measure_unicon_epoch", partial(
        measurements.measure_unicon_epoch, eval_images=100, backbone=lambda: PreActResNet(widths=(4, 8, 16, 32))))
    output = tmp_path / "hmw.md"

    results = benchmark.main(["--hmw", "--quick", "--steps", "1", "--device", "cpu", "--output", str(output)])

    assert calls == [("cce", 1, 1), ("hmw+cce", 1, 1)]
    assert output.read_text() == results["table"]
    assert list(results["unicon"]) == ["uc", "hmw+uc"]
    for method, r in results["unicon"].items():
        assert (r["batch_x"], r["batch_u"], r["iterations"], r["epochs"], r["warm_up"]) == (64, 64, 390, 251, 10)
        assert r["losses_finite"] and r["other_unchanged"]
        assert r["iteration_ms"] == pytest.approx(r["views_ms"] + r["step_ms"])
        row = next(line for line in results["table"].splitlines() if line.startswith(f"| {method} |"))
        assert row.split(" | ")[4] == f"{r['iteration_ms'] / 200.0:.2f}x"
        assert row.endswith(f"| {r['run_s'] / 3600:.2f} h |")
    assert "| hmw+cce | 200.0 ms | 0.50 ms |" in results["table"]
    assert "251-epoch run = 10 warm-up epochs" in results["table"] and "2 networks x 390 iterations" in results["table"]
    assert "hmw+uc iteration / uc iteration:" in results["table"]
