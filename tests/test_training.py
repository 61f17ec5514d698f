"""The recipe's pieces: crops, windows, max aggregation, the one-cycle schedule, non-finite losses."""
import numpy as np
import pytest
import torch
from torch import nn

from code_used_upload.utils.crops import crop_length, random_crops, sliding_windows, window_stride
from code_used_upload.utils.inference import predict_records
from code_used_upload.utils.training import NonFiniteLossError, make_optimizer, train_model


def ramp_signals(n_records=6, n_leads=12, n_time=1000):
    """value = 100000 * record + 1000 * lead + time: any sample tells where it came from."""
    record = torch.arange(n_records)[:, None, None] * 100000
    lead = torch.arange(n_leads)[None, :, None] * 1000
    time = torch.arange(n_time)[None, None, :]
    return (record + lead + time).float()


def test_crop_and_window_lengths_are_the_benchmarks_at_both_rates():
    assert (crop_length(100), window_stride(100)) == (250, 125)
    assert (crop_length(500), window_stride(500)) == (1250, 625)


def test_random_crops_are_contiguous_slices_of_the_requested_records():
    signals = ramp_signals()
    rows = torch.tensor([4, 0, 4, 2])
    generator = torch.Generator().manual_seed(0)
    crops = random_crops(signals, rows, 250, generator)
    assert crops.shape == (4, 12, 250)
    for i, row in enumerate(rows.tolist()):
        start = int(crops[i, 0, 0].item()) % 1000
        assert torch.equal(crops[i], signals[row, :, start:start + 250])


def test_random_crop_starts_cover_every_valid_offset_and_no_other():
    signals = ramp_signals(n_records=1, n_time=260)
    rows = torch.zeros(5000, dtype=torch.long)
    crops = random_crops(signals, rows, 250, torch.Generator().manual_seed(1))
    starts = set(crops[:, 0, 0].long().tolist())
    assert starts == set(range(0, 11))


def test_random_crops_are_reproducible_from_the_generator_seed():
    signals = ramp_signals()
    rows = torch.arange(6)
    first = random_crops(signals, rows, 250, torch.Generator().manual_seed(7))
    second = random_crops(signals, rows, 250, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)


def test_sliding_windows_give_seven_windows_of_ten_seconds():
    signals = ramp_signals(n_records=2)
    windows = sliding_windows(signals, 250, 125)
    assert windows.shape == (2, 7, 12, 250)
    for k in range(7):
        assert torch.equal(windows[1, k], signals[1, :, 125 * k:125 * k + 250])


class WindowMean(nn.Module):
    """A stand-in model: logit l of a window = its mean of lead l (two labels)."""
    is_ldm = False

    def forward(self, x):
        return x[:, :2, :].mean(dim=2)


def test_record_prediction_is_the_maximum_over_its_windows_whatever_the_batch_size():
    signals = torch.randn(5, 12, 1000, generator=torch.Generator().manual_seed(0))
    windows = sliding_windows(signals, 250, 125)
    expected = torch.sigmoid(windows[:, :, :2, :].mean(dim=3).amax(dim=1)).numpy()
    for windows_per_batch in (1, 7, 20, 4096):
        predicted = predict_records(WindowMean(), signals, 250, 125, torch.device("cpu"), windows_per_batch)
        np.testing.assert_allclose(predicted, expected, rtol=1e-6)


def test_one_cycle_schedule_matches_fit_one_cycle():
    model = nn.Linear(3, 2)
    optimizer, schedule = make_optimizer(model, max_lr=1e-2, weight_decay=1e-2, total_steps=1000)
    lrs, beta1s = [], []
    for _ in range(1000):
        lrs.append(optimizer.param_groups[0]["lr"])
        beta1s.append(optimizer.param_groups[0]["betas"][0])
        optimizer.step()
        schedule.step()
    assert lrs[0] == pytest.approx(1e-2 / 25)
    assert max(lrs) == pytest.approx(1e-2) and int(np.argmax(lrs)) == pytest.approx(300, abs=1)
    assert lrs[-1] == pytest.approx(1e-2 / 25e4, rel=1e-2)
    assert beta1s[0] == pytest.approx(0.95) and min(beta1s) == pytest.approx(0.85)
    assert optimizer.param_groups[0]["weight_decay"] == 1e-2
    assert optimizer.param_groups[0]["betas"][1] == 0.99


class Exploding(nn.Module):
    """Returns infinite logits from the first step on."""
    is_ldm = False

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float("inf")))

    def forward(self, x):
        return x[:, :3, 0] * self.scale


def test_a_non_finite_loss_stops_training_naming_the_epoch():
    signals = torch.randn(8, 12, 300)
    targets = np.ones((8, 3), dtype=np.float32)
    config = {"max_lr": 1e-2, "weight_decay": 1e-2, "clip": None}
    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        train_model(Exploding(), signals, targets, config, epochs=2, batch_size=4, crop=250,
                    device=torch.device("cpu"), seed=0, progress=False)
