"""One copy of the signals: a task's scaler from the cached per-record moments, folds read from the
memory map a chunk at a time, standardisation where a batch or an evaluation chunk is made, and all
of it equal to the materialised standardised folds it replaces (up to float32 rounding)."""
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from code_used_upload import benchmark, measurements
from code_used_upload.configs.tasks import TASKS
from code_used_upload.data import ptbxl
from code_used_upload.data.records import Records, record_moments
from code_used_upload.data.task import PTBXL, Fold, Standardiser, fit_scaler, prepare_task
from code_used_upload.evaluation.inference import predict_records
from code_used_upload.training.crops import to_device
from code_used_upload.models import Recipe
from code_used_upload.training.loop import train_model
from code_used_upload.training.settings import RunSettings

CPU = torch.device("cpu")


def two_pass_scaler(X):
    """The materialised path's scaler: float64 mean over all values, then the mean squared deviation."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.sum() / X.size
    return {"mean": mean, "std": np.sqrt(np.square(X - mean).sum() / X.size)}


def materialised(X, scaler):
    """The materialised path's standardised fold: float32, (records, leads, time)."""
    X = (np.asarray(X, dtype=np.float32) - np.float32(scaler["mean"])) / np.float32(scaler["std"])
    return np.ascontiguousarray(X.transpose(0, 2, 1))


def assert_equal_to_float32_rounding(ours, reference):
    ours, reference = np.asarray(ours), np.asarray(reference)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 2 * np.finfo(np.float32).eps * np.abs(reference).max()


def assert_scaler_equal_to_float64_rounding(ours, reference):
    assert ours["mean"] == pytest.approx(reference["mean"], rel=1e-12, abs=1e-12 * reference["std"])
    assert ours["std"] == pytest.approx(reference["std"], rel=1e-12)


@pytest.mark.parametrize("offset, scale", [(0.0, 1.0), (1e3, 1e-2)])
def test_the_scaler_from_record_moments_equals_the_two_pass_scaler(offset, scale):
    """Also where the values sit far from zero, where the sum of squares minus the squared sum would
    lose about nine of float64's sixteen digits of this standard deviation."""
    rng = np.random.default_rng(0)
    record_offsets = rng.normal(0, 5 * scale, (50, 1, 1))  # records differ in level, as ECG baselines do
    X = (offset + record_offsets + rng.normal(0, scale, (50, 700, 12))).astype(np.float32)
    assert_scaler_equal_to_float64_rounding(fit_scaler(record_moments(X, samples_per_chunk=7 * 700)), two_pass_scaler(X))


@pytest.fixture(scope="module")
def outputfolder(tmp_path_factory):
    """One signal cache for the module's datasets: written once, then loaded as the memory map."""
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture
def dataset(synthetic_ptbxl, outputfolder):
    return PTBXL(synthetic_ptbxl, outputfolder, 100, progress=False)


class NoSamples:
    """Signals of some shape whose samples may not be read."""

    def __init__(self, shape):
        self.shape = shape

    def __getitem__(self, index):
        raise AssertionError("a sample was read")

    def __array__(self, *args, **kwargs):
        raise AssertionError("a sample was read")


def test_preparing_a_task_reads_no_sample_and_gives_the_two_pass_scaler(dataset, tmp_path):
    signals = np.asarray(dataset.signals)
    dataset.records = Records(NoSamples((signals.size // 12, 12)), dataset.records.offsets)
    for task in TASKS:
        data = prepare_task(dataset, tmp_path, task)
        assert all(fold.records is dataset.records for fold in (data.X_train, data.X_val, data.X_test))
        assert_scaler_equal_to_float64_rounding(data.scaler, two_pass_scaler(signals[data.X_train.rows]))
        assert [len(data.X_train), len(data.X_val), len(data.X_test)] == [len(data.y_train), len(data.y_val),
                                                                           len(data.y_test)]


def test_record_moments_are_computed_once_per_cache_and_again_for_a_new_one(synthetic_ptbxl_both_rates, tmp_path,
                                                                            monkeypatch):
    datafolder = shutil.copytree(synthetic_ptbxl_both_rates, tmp_path / "ptbxl")
    computed = []
    real = ptbxl.record_moments
    monkeypatch.setattr(ptbxl, "record_moments", lambda signals: computed.append(len(signals)) or real(signals))

    first = PTBXL(datafolder, tmp_path, 500, progress=False)
    second = PTBXL(datafolder, tmp_path, 500, progress=False)
    assert computed == [60] and isinstance(first.signals, np.memmap)
    np.testing.assert_array_equal(second.moments, real(np.asarray(first.signals)))
    assert second.moments.dtype == np.float64 and second.moments[0, 0] == 5000 * 12

    (tmp_path / "cache" / "signals_500hz_moments.npz").unlink()  # a cache written before moments were kept
    PTBXL(datafolder, tmp_path, 500, progress=False)
    assert computed == [60, 60]

    table = pd.read_csv(datafolder / "ptbxl_database.csv")  # a new database: a new cache, new moments
    table.loc[1, "filename_hr"] = table.loc[0, "filename_hr"]
    table.to_csv(datafolder / "ptbxl_database.csv", index=False)
    changed = PTBXL(datafolder, tmp_path, 500, progress=False)
    assert computed == [60, 60, 60]
    np.testing.assert_array_equal(changed.moments[1], changed.moments[0])


class Recorder(nn.Module):
    """A stand-in model that keeps every input it is given; one bias per label to train."""

    def __init__(self, n_labels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n_labels))
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.bias.expand(len(x), -1)

    def loss(self, outputs, targets):
        return nn.functional.binary_cross_entropy_with_logits(outputs, targets)


def test_training_batches_equal_those_of_the_materialised_standardised_fold(dataset, tmp_path):
    data = prepare_task(dataset, tmp_path, "superdiagnostic", write=False)
    resident = to_device(data.X_train, CPU, samples_per_chunk=64 * 1000)  # several chunks
    assert (resident.length, resident.lead_stride, len(resident)) == (1000, len(data.X_train) * 1000, len(data.X_train))
    np.testing.assert_array_equal(resident.values.view(12, -1).numpy(),  # lead by lead, the records along time
                                  np.asarray(dataset.signals)[data.X_train.rows].transpose(2, 0, 1).reshape(12, -1))

    settings = RunSettings(epochs=2, batch_size=64, progress=False)
    ours, reference = Recorder(5), Recorder(5)
    train_model(ours, resident, data.y_train, Recipe(), settings, seed=3, standardise=data.standardiser)
    fold = materialised(np.asarray(dataset.signals)[data.X_train.rows], data.scaler)
    train_model(reference, torch.from_numpy(fold), data.y_train, Recipe(), settings, seed=3)

    assert len(ours.inputs) == len(reference.inputs) == 2 * (len(data.X_train) // 64)
    for batch, expected in zip(ours.inputs, reference.inputs):
        assert batch.is_contiguous() and batch.shape == (64, 12, 250)
        assert_equal_to_float32_rounding(batch, expected)


def test_evaluation_windows_equal_those_of_the_materialised_standardised_fold(dataset, tmp_path):
    data = prepare_task(dataset, tmp_path, "superdiagnostic", write=False)
    ours, reference = Recorder(5), Recorder(5)
    predict_records(ours, data.X_test, 250, 125, CPU, windows_per_batch=50, standardise=data.standardiser)
    fold = materialised(np.asarray(dataset.signals)[data.X_test.rows], data.scaler)
    predict_records(reference, torch.from_numpy(fold).transpose(1, 2), 250, 125, CPU, windows_per_batch=50)
    assert len(ours.inputs) == len(reference.inputs) > 1  # several chunks
    assert_equal_to_float32_rounding(torch.cat(ours.inputs), torch.cat(reference.inputs))


def resident_kib(path):
    """This process's resident KiB of its mappings of the file `path` (Linux: /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.endswith(os.path.realpath(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_a_fold_is_read_from_the_memory_map_without_keeping_its_pages(dataset):
    rows = np.arange(0, len(dataset.signals), 3)
    fold = Fold(dataset.records, rows)
    assert len(fold) == len(rows) and (fold.lengths == 1000).all()
    expected = np.array(dataset.signals[rows[5:9]])  # a plain read: its pages stay mapped
    assert resident_kib(dataset.signals.filename) > 0
    block = fold[5:9]
    np.testing.assert_array_equal(block.flat.reshape(4, 1000, 12), expected)
    np.testing.assert_array_equal(block.offsets, [0, 1000, 2000, 3000, 4000])
    assert block.flat.flags.writeable and block.flat.dtype == np.float32
    assert resident_kib(dataset.signals.filename) == 0


def test_the_standardiser_is_the_materialised_arithmetic_on_tensors_and_arrays():
    X = np.random.default_rng(1).normal(0.3, 2.0, (3, 100, 12)).astype(np.float32)
    scaler = {"mean": 0.2987654321, "std": 1.987654321}
    expected = materialised(X, scaler).transpose(0, 2, 1)
    np.testing.assert_array_equal(Standardiser(**scaler)(X), expected)
    np.testing.assert_array_equal(Standardiser(**scaler)(torch.from_numpy(X)).numpy(), expected)


def test_the_memory_benchmark_measures_prepare_and_a_cell_in_child_processes(tmp_path):
    results = benchmark.measure_memory(records=120, batch_size=32, scratch=tmp_path, rates=(100,))
    measured = results[100]
    assert measured["cache_bytes"] == 120 * 1000 * 12 * 4 + 128  # the .npy: its header and the float32 signals
    for name in benchmark.MEMORY_RUNS:
        seconds, peak = measured[name]
        assert seconds > 0 and 50e6 < peak < 4e9
    rows = benchmark.build_memory_rows(results, 120)
    assert [row[0] for row in rows] == ["cold --prepare-only, 6 tasks, 120 records at 100 Hz",
                                        "warm --prepare-only, 6 tasks, 120 records at 100 Hz",
                                        "one CPU cell: fcn_wang, rhythm, 1 epoch, 120 records at 100 Hz"]
    assert all(row[2] == "signal cache 0.01 GB" and row[3].endswith("x the cache") for row in rows)
    assert not list(tmp_path.iterdir())  # each rate's data and outputs are removed after its runs


def test_a_drivers_peak_is_its_own_not_the_measuring_processs(tmp_path):
    """Linux carries a process's peak resident set into the children it spawns (fork and exec both keep the
    high-water mark in the rusage): measured by wait4, the driver's peak was at least this process's."""
    held = bytearray(2 * 2**30)
    held[::4096] = b"\1" * len(held[::4096])  # touched: 2 GiB resident in this process
    seconds, peak = measurements.run_driver(["--help"], tmp_path / "help.log")
    assert (tmp_path / "help.log").read_text().startswith("usage:") and not list(tmp_path.glob("*.peak"))
    assert 5e6 < peak < 1e9  # measured: 15 MB (--help imports neither torch nor the data)
    del held
