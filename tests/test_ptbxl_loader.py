"""The signal loader: equal to wfdb.rdsamp (fast path and fallback), cached, and clear about bad data."""

import shutil

import numpy as np
import pandas as pd
import pytest
import wfdb

from code_used_upload.data import ptbxl
from code_used_upload.errors import UserError
from code_used_upload.data.ptbxl import load_database, load_signals, load_statements


def rdsamp_all(folder, filenames):
    return np.stack([wfdb.rdsamp(str(folder / name))[0].astype(np.float32) for name in filenames])


@pytest.fixture
def small_copy(synthetic_ptbxl_both_rates, tmp_path):
    """A private, writable copy of the small synthetic PTB-XL."""
    return shutil.copytree(synthetic_ptbxl_both_rates, tmp_path / "ptbxl")


@pytest.mark.parametrize("rate,column", [(100, "filename_lr"), (500, "filename_hr")])
def test_real_slice_equals_wfdb(shared_dir, rate, column):
    folder = shared_dir / "ptbxl-sample"
    database = load_database(folder)
    expected = rdsamp_all(folder, database[column])
    for workers in (1, 2):  # in this process and over a process pool
        signals = load_signals(folder, database, rate, workers=workers, progress=False)
        assert signals.dtype == np.float32 and signals.shape == (200, 10 * rate, 12)
        np.testing.assert_array_equal(signals, expected)


def test_database_and_statements_as_the_benchmark_reads_them(shared_dir):
    folder = shared_dir / "ptbxl-sample"
    database = load_database(folder)
    assert database.index.name == "ecg_id" and list(database.index) == list(range(1, 201))
    assert database.loc[1, "scp_codes"] == {"NORM": 100.0, "LVOLT": 0.0, "SR": 0.0}
    assert len(database.columns) == 27  # the release's 28 columns less the ecg_id index
    statements = load_statements(folder)
    assert len(statements) == 71 and statements.loc["NORM", "diagnostic_class"] == "NORM"


def test_unusual_gain_baseline_and_missing_samples_match_wfdb(small_copy):
    """The fast path applies the header's own gains and baselines and wfdb's NaN, not fixed ones."""
    name = "records100/00000/00003_lr"
    digital = np.random.default_rng(1).integers(-3000, 3000, (1000, 12)).astype(np.int16)
    digital[5, 2] = -32768  # format 16's missing-sample value
    wfdb.wrsamp("00003_lr", fs=100, units=["mV"] * 12, sig_name=[f"L{i}" for i in range(12)], d_signal=digital,
                fmt=["16"] * 12, adc_gain=[437.5 + i for i in range(12)], baseline=list(range(-6, 6)), write_dir=str(small_copy / "records100/00000"))
    assert "437.5(-6)/mV" in (small_copy / f"{name}.hea").read_text()
    database = load_database(small_copy)
    signals = load_signals(small_copy, database, 100, workers=1, progress=False)
    expected = wfdb.rdsamp(str(small_copy / name))[0].astype(np.float32)
    assert np.isnan(expected[5, 2])
    np.testing.assert_array_equal(signals[2], expected)


def test_other_header_shapes_fall_back_to_wfdb(small_copy, monkeypatch):
    """A record in format 212 or without an explicit baseline is read by wfdb, with equal values."""
    digital = np.random.default_rng(2).integers(-2000, 2000, (1000, 12)).astype(np.int16)
    directory = str(small_copy / "records100/00000")
    wfdb.wrsamp("00004_lr", fs=100, units=["mV"] * 12, sig_name=[f"L{i}" for i in range(12)], d_signal=digital,
                fmt=["212"] * 12, adc_gain=[200.0] * 12, baseline=[0] * 12, write_dir=directory)
    header = small_copy / "records100/00000/00007_lr.hea"
    header.write_text(header.read_text().replace("1000.0(0)/mV", "1000.0/mV"))
    read_by_wfdb = []
    real_rdsamp = wfdb.rdsamp
    monkeypatch.setattr(ptbxl.wfdb, "rdsamp", lambda path: read_by_wfdb.append(path) or real_rdsamp(path))

    database = load_database(small_copy)
    signals = load_signals(small_copy, database, 100, workers=1, progress=False)
    assert sorted(read_by_wfdb) == [str(small_copy / "records100/00000/00004_lr"), str(small_copy / "records100/00000/00007_lr")]
    np.testing.assert_array_equal(signals, rdsamp_all(small_copy, database["filename_lr"]))


def test_cache_is_reused_and_rebuilt_when_database_or_rate_change(small_copy, tmp_path, monkeypatch):
    reads = []
    real_read_all = ptbxl._read_all
    monkeypatch.setattr(ptbxl, "_read_all", lambda *args: reads.append(args[2]) or real_read_all(*args))
    cache = tmp_path / "cache"
    database = load_database(small_copy)

    cold = load_signals(small_copy, database, 100, cache_dir=cache, workers=1, progress=False)
    warm = load_signals(small_copy, database, 100, cache_dir=cache, workers=1, progress=False)
    assert reads == [100]
    assert isinstance(warm, np.memmap)
    np.testing.assert_array_equal(warm, cold)
    np.testing.assert_array_equal(warm, rdsamp_all(small_copy, database["filename_lr"]))

    high = load_signals(small_copy, database, 500, cache_dir=cache, workers=1, progress=False)
    assert reads == [100, 500] and high.shape == (60, 5000, 12)
    np.testing.assert_array_equal(high, rdsamp_all(small_copy, database["filename_hr"]))

    # a new database file: record 2 now points at record 1's signal
    table = pd.read_csv(small_copy / "ptbxl_database.csv")
    table.loc[1, "filename_lr"] = table.loc[0, "filename_lr"]
    table.to_csv(small_copy / "ptbxl_database.csv", index=False)
    changed = load_database(small_copy)
    rebuilt = load_signals(small_copy, changed, 100, cache_dir=cache, workers=1, progress=False)
    assert reads == [100, 500, 100]
    np.testing.assert_array_equal(rebuilt[1], cold[0])

    # the same file but another selection of records
    subset = load_signals(small_copy, changed.iloc[:10], 100, cache_dir=cache, workers=1, progress=False)
    assert reads == [100, 500, 100, 100] and subset.shape == (10, 1000, 12)
    assert sorted(p.name for p in cache.iterdir()) == ["signals_100hz.json", "signals_100hz.npy", "signals_500hz.json", "signals_500hz.npy"]


def damage_missing_dat(folder):
    (folder / "records100/00000/00009_lr.dat").unlink()


def damage_truncated_dat(folder):
    path = folder / "records100/00000/00009_lr.dat"
    path.write_bytes(path.read_bytes()[:5000])


def damage_corrupt_header(folder):
    (folder / "records100/00000/00009_lr.hea").write_text("00009_lr twelve leads\nnot a signal line\n")


def damage_missing_header(folder):
    (folder / "records100/00000/00009_lr.hea").unlink()


@pytest.mark.parametrize("damage", [damage_missing_dat, damage_truncated_dat, damage_corrupt_header, damage_missing_header])
@pytest.mark.parametrize("workers", [1, 2])
def test_bad_record_names_its_path(small_copy, damage, workers):
    damage(small_copy)
    with pytest.raises(UserError) as error:
        load_signals(small_copy, load_database(small_copy), 100, workers=workers, progress=False)
    assert str(small_copy / "records100/00000/00009_lr") in str(error.value)
    assert "get_ptbxl.sh" in str(error.value)


def test_missing_folder_says_how_to_get_the_data(tmp_path):
    for load in (load_database, load_statements):
        with pytest.raises(UserError) as error:
            load(tmp_path / "nowhere")
        message = str(error.value)
        assert str(tmp_path / "nowhere") in message and "./get_ptbxl.sh" in message and "--demo" in message


def test_only_the_release_rates(synthetic_ptbxl_both_rates):
    with pytest.raises(UserError, match="250"):
        load_signals(synthetic_ptbxl_both_rates, load_database(synthetic_ptbxl_both_rates), 250)
