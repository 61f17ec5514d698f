"""The benchmark runs end to end and reports what it measured; no test here depends on how fast anything is."""
import math

import numpy as np

from code_used_upload import benchmark, measurements
from code_used_upload.data.synthetic import write_synthetic_ptbxl


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
