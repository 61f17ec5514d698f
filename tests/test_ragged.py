"""Records of any length: their storage, training crops and evaluation windows, each against a per-record
computation by hand, and PTB-XL's fixed-length path unchanged bit for bit."""
import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from torch import nn

from code_used_upload.data.records import Records, chunks, record_moments
from code_used_upload.data.task import fit_scaler
from code_used_upload.evaluation.inference import predict_records
from code_used_upload.models import build_model
from code_used_upload.training.crops import random_crops, to_device

CPU = torch.device("cpu")
WINDOW, STRIDE = 250, 125
# one window exactly, one window and a sample, windows with tails of every size, a long record
LENGTHS = [250, 251, 374, 375, 376, 1103, 600, 6000]


def ramp_records(lengths, n_leads=12):
    """value = 1e6 * record + 1e4 * lead + time: any sample tells where it came from (exact in float32)."""
    signals = [1e6 * r + 1e4 * np.arange(n_leads)[None, :] + np.arange(length)[:, None]
               for r, length in enumerate(lengths)]
    return Records.concatenate(signals)


def origin(crops):
    """(record, lead, time) of every sample of (crops, leads, length) ramp crops."""
    values = crops.long()
    return values // 1000000, values % 1000000 // 10000, values % 10000


def test_records_view_fixed_length_arrays_and_take_rows_of_any_length():
    array = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    records = Records.of_array(array)
    assert np.shares_memory(records.flat, array) and records.offsets.tolist() == [0, 4, 8, 12]
    ragged = ramp_records([3, 5, 2])
    taken = ragged.take([2, 0])
    assert taken.offsets.tolist() == [0, 2, 5]
    np.testing.assert_array_equal(taken.flat, np.concatenate([ragged.flat[8:10], ragged.flat[0:3]]))
    assert ragged[1:3].offsets.tolist() == [0, 5, 7] and ragged[1:3].flat.base is not None  # a view
    assert chunks([4, 4, 4, 4, 4], 9) == [(0, 2), (2, 4), (4, 5)] and chunks([3, 20, 2, 2], 5) == [(0, 1), (1, 2), (2, 4)]


def test_moments_of_records_of_any_length_give_the_two_pass_scaler_of_all_their_values():
    """The benchmark's scaler on ICBEB: StandardScaler over np.vstack(X_train).flatten()."""
    rng = np.random.default_rng(0)
    signals = [(rng.normal(3.0, 1.0, (1, 12)) + rng.normal(0, 0.5, (length, 12))).astype(np.float32)
               for length in rng.integers(600, 3000, 40)]
    signals[7] = signals[3] + 1.0  # two records of one length among others
    values = np.concatenate(signals).astype(np.float64).ravel()
    scaler = fit_scaler(record_moments(Records.concatenate(signals), samples_per_chunk=5000))
    assert scaler["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert scaler["std"] == pytest.approx(values.std(), rel=1e-12)


@pytest.fixture(scope="module")
def resident():
    return to_device(ramp_records(LENGTHS), CPU, samples_per_chunk=1000)  # several chunks


def test_resident_records_hold_each_record_lead_by_lead(resident):
    assert resident.length is None and len(resident) == len(LENGTHS)
    for record, length in enumerate(LENGTHS):
        for lead in (0, 11):
            run = resident.values[resident.bases[record] + lead * resident.lead_stride:][:length]
            assert torch.equal(run, torch.tensor(1e6 * record + 1e4 * lead) + torch.arange(length))


def test_ragged_crops_lie_inside_their_record_and_start_where_the_benchmark_starts_them(resident):
    """random.randint(0, len - window - 1); a record one window long (or one sample longer) starts at 0."""
    rows = torch.arange(len(LENGTHS)).repeat(300)
    crops = random_crops(resident, rows, WINDOW, torch.Generator().manual_seed(0))
    record, lead, time = origin(crops)
    assert torch.equal(record, rows[:, None, None].expand_as(record))
    assert torch.equal(lead, torch.arange(12)[None, :, None].expand_as(lead))
    starts = time[:, 0, 0]
    assert torch.equal(time, (starts[:, None, None] + torch.arange(WINDOW)).expand_as(time))  # one lead, in a row
    for r, length in enumerate(LENGTHS):
        drawn = starts[rows == r]
        assert drawn.min() >= 0 and drawn.max() <= max(length - WINDOW - 1, 0)
    longest = starts[rows == LENGTHS.index(6000)]  # 300 draws over 0 .. 5749 reach both ends of the range
    assert longest.min() < 500 and longest.max() > 5250


def test_ragged_crop_starts_are_uniform_over_the_range():
    one_lead = to_device(ramp_records([376, 300], n_leads=1), CPU)  # starts 0 .. 125 of the first record
    rows = torch.zeros(40000, dtype=torch.long)
    starts = origin(random_crops(one_lead, rows, WINDOW, torch.Generator().manual_seed(1)))[2][:, 0, 0]
    counts = torch.bincount(starts, minlength=126).numpy()
    assert len(counts) == 126 and counts.min() > 0
    assert chisquare(counts).pvalue > 1e-3  # uniform (p 0.45 here); one start drawn twice as often gives p 1e-36


def test_crops_of_one_length_are_those_of_the_fixed_length_path():
    """PTB-XL: the cell's resident fold (lead by lead) gives the old (records, leads, time) crops bit for bit."""
    signals = torch.randn(20, 1000, 12, generator=torch.Generator().manual_seed(0))
    resident = to_device(Records.of_array(signals.numpy()), CPU, samples_per_chunk=3000)
    assert resident.length == 1000
    old_layout = signals.transpose(1, 2).contiguous()
    rows = torch.tensor([3, 19, 0, 3, 7])
    ours = random_crops(resident, rows, WINDOW, torch.Generator().manual_seed(5))
    # the fixed-length computation as it was: starts drawn once for the batch, one gather from (records, leads, time)
    generator = torch.Generator().manual_seed(5)
    starts = torch.randint(0, 1000 - WINDOW, (len(rows),), generator=generator)
    expected = torch.stack([old_layout[r, :, s:s + WINDOW] for r, s in zip(rows.tolist(), starts.tolist())])
    assert torch.equal(ours, expected)
    assert torch.equal(random_crops(old_layout, rows, WINDOW, torch.Generator().manual_seed(5)), expected)


class WindowMean(nn.Module):
    """A stand-in model: logit l of a window = its mean of lead l (two labels)."""

    def forward(self, x):
        return x[:, :2, :].mean(dim=2)


@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_ragged_evaluation_equals_a_loop_over_each_records_windows(aggregate):
    rng = np.random.default_rng(3)
    signals = [rng.normal(0, 1, (length, 12)).astype(np.float32) for length in LENGTHS]
    expected = []
    for signal in signals:  # the benchmark's chunks: starts 0, stride, ...; only whole windows
        windows = [signal[start:start + WINDOW] for start in range(0, len(signal), STRIDE)
                   if start + WINDOW <= len(signal)]
        probabilities = [torch.sigmoid(torch.from_numpy(w[:, :2].mean(axis=0))).numpy() for w in windows]
        expected.append(np.max(probabilities, axis=0) if aggregate == "max" else np.mean(probabilities, axis=0))
    for windows_per_batch in (1, 5, 37, 4096):
        predicted = predict_records(WindowMean(), Records.concatenate(signals), WINDOW, STRIDE, CPU, aggregate,
                                    windows_per_batch=windows_per_batch)
        np.testing.assert_allclose(predicted, expected, rtol=1e-6)


def test_a_tail_shorter_than_a_window_is_not_seen_and_a_short_record_is_refused():
    signal = np.zeros((1103, 12), dtype=np.float32)  # windows end at 1000: a tail of 103 samples
    changed_tail, changed_window = signal.copy(), signal.copy()
    changed_tail[1000:, :2] = 50.0
    changed_window[999, :2] = 50.0
    base, tail, window = (predict_records(WindowMean(), Records.concatenate([s]), WINDOW, STRIDE, CPU)
                          for s in (signal, changed_tail, changed_window))
    assert np.array_equal(base, tail) and not np.array_equal(base, window)
    with pytest.raises(ValueError, match="249 samples is shorter than one window of 250"):
        predict_records(WindowMean(), Records.concatenate([signal, signal[:249]]), WINDOW, STRIDE, CPU)


@pytest.mark.parametrize("aggregate, stride", [("max", 125), ("mean", 250)])
def test_evaluation_of_fixed_length_records_is_the_fixed_length_computation_bit_for_bit(aggregate, stride):
    """PTB-XL's 10 s records with a real model: the same batches, windows and reduction as before records of
    any length existed, so the predictions keep their bytes (also S4's mean over non-overlapping windows)."""
    torch.manual_seed(0)
    model = build_model("fcn_wang", 5).eval()
    signals = torch.randn(30, 1000, 12, generator=torch.Generator().manual_seed(1))
    n_windows = (1000 - WINDOW) // stride + 1
    for windows_per_batch in (None, 50):
        ours = predict_records(model, signals, WINDOW, stride, CPU, aggregate, windows_per_batch=windows_per_batch)
        per_batch = max(1, (windows_per_batch or 4096 * 250 // WINDOW) // n_windows)
        old = []
        with torch.no_grad():
            for start in range(0, 30, per_batch):  # the fixed-length computation as it was
                chunk = signals[start:start + per_batch]
                windows = chunk.unfold(1, WINDOW, stride).reshape(-1, 12, WINDOW)
                probabilities = torch.sigmoid(model(windows)).reshape(len(chunk), n_windows, -1)
                old.append(probabilities.amax(dim=1) if aggregate == "max" else probabilities.mean(dim=1))
        assert np.array_equal(ours, torch.cat(old).numpy())
