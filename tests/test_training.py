"""The recipe's pieces: crops, windows, max aggregation, the one-cycle schedule, non-finite losses."""
import contextlib
import ctypes
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from code_used_upload.evaluation.inference import predict_records, record_windows
from code_used_upload.errors import UserError
from code_used_upload.models import Recipe, build_model
from code_used_upload.training.device import configure_numerics, training_autocast
from code_used_upload.training.crops import random_crops
from code_used_upload.training.loop import NonFiniteLossError, make_optimizer, train_model
from code_used_upload.training.settings import RunSettings


def ramp_signals(n_records=6, n_leads=12, n_time=1000):
    """value = 100000 * record + 1000 * lead + time: any sample tells where it came from."""
    record = torch.arange(n_records)[:, None, None] * 100000
    lead = torch.arange(n_leads)[None, :, None] * 1000
    time = torch.arange(n_time)[None, None, :]
    return (record + lead + time).float()


def test_crop_and_window_lengths_are_the_benchmarks_at_both_rates():
    recipe = Recipe()
    assert (recipe.window(100), recipe.stride(100)) == (250, 125)
    assert (recipe.window(500), recipe.stride(500)) == (1250, 625)


def test_random_crops_are_contiguous_slices_of_the_requested_records():
    signals = ramp_signals()
    rows = torch.tensor([4, 0, 4, 2])
    generator = torch.Generator().manual_seed(0)
    crops = random_crops(signals, rows, 250, generator)
    assert crops.shape == (4, 12, 250)
    for i, row in enumerate(rows.tolist()):
        start = int(crops[i, 0, 0].item()) % 1000
        assert torch.equal(crops[i], signals[row, :, start:start + 250])


def test_random_crop_starts_are_drawn_as_the_reference_draws_them():
    """random.randint(0, timesteps - output_size - 1): 0 .. T - L - 1, both ends included."""
    signals = ramp_signals(n_records=1, n_time=260)
    rows = torch.zeros(5000, dtype=torch.long)
    crops = random_crops(signals, rows, 250, torch.Generator().manual_seed(1))
    starts = set(crops[:, 0, 0].long().tolist())
    assert starts == set(range(0, 10))
    exact = random_crops(ramp_signals(n_records=1, n_time=250), rows[:10], 250, torch.Generator().manual_seed(1))
    assert set(exact[:, 0, 0].long().tolist()) == {0}


def test_random_crops_are_reproducible_from_the_generator_seed():
    signals = ramp_signals()
    rows = torch.arange(6)
    first = random_crops(signals, rows, 250, torch.Generator().manual_seed(7))
    second = random_crops(signals, rows, 250, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)


def test_windows_of_ten_seconds_are_seven():
    """Records as stored, one after another along time (samples, leads); windows in the models' layout."""
    signals = ramp_signals(n_records=2)
    flat = signals.transpose(1, 2).reshape(-1, 12)
    windows = record_windows(flat, np.array([0, 1000, 2000]), np.array([7, 7]), 250, 125)
    assert windows.shape == (14, 12, 250) and windows.is_contiguous()
    for k in range(7):
        assert torch.equal(windows[7 + k], signals[1, :, 125 * k:125 * k + 250])


class WindowMean(nn.Module):
    """A stand-in model: logit l of a window = its mean of lead l (two labels)."""

    def forward(self, x):
        return x[:, :2, :].mean(dim=2)


def test_record_prediction_is_the_maximum_over_its_windows_whatever_the_batch_size():
    signals = torch.randn(5, 12, 1000, generator=torch.Generator().manual_seed(0))
    window_means = torch.stack([signals[:, :2, 125 * k:125 * k + 250].mean(dim=2) for k in range(7)], dim=1)
    expected = torch.sigmoid(window_means.amax(dim=1)).numpy()
    for windows_per_batch in (1, 7, 20, 4096):
        predicted = predict_records(WindowMean(), signals.transpose(1, 2), 250, 125, torch.device("cpu"),
                                    windows_per_batch=windows_per_batch)
        np.testing.assert_allclose(predicted, expected, rtol=1e-6)


def test_record_prediction_as_the_mean_over_four_non_overlapping_windows():
    """S4's reference: a 10 s record cut into 4 windows of 2.5 s, the windows' probabilities averaged."""
    signals = torch.randn(3, 12, 1000, generator=torch.Generator().manual_seed(2))
    expected = np.stack([
        np.mean([torch.sigmoid(signals[r, :2, 250 * k:250 * (k + 1)].mean(dim=1)).numpy() for k in range(4)], axis=0)
        for r in range(3)])
    recipe = Recipe(stride_seconds=2.5, aggregate="mean")
    assert (recipe.window(100), recipe.stride(100)) == (250, 250)
    for windows_per_batch in (1, 3, 4096):
        predicted = predict_records(WindowMean(), signals.transpose(1, 2), 250, 250, torch.device("cpu"), "mean",
                                    windows_per_batch=windows_per_batch)
        np.testing.assert_allclose(predicted, expected, rtol=1e-6)


def test_one_cycle_schedule_matches_fit_one_cycle():
    model = nn.Linear(3, 2)
    optimizer, schedule = make_optimizer(model, Recipe(max_lr=1e-2, weight_decay=1e-2), total_steps=1000)
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


def test_a_constant_schedule_keeps_the_learning_rate_and_the_recipes_betas():
    model = nn.Linear(3, 2)
    optimizer, schedule = make_optimizer(model, Recipe(max_lr=1e-3, weight_decay=1e-3, betas=(0.9, 0.999),
                                                       schedule="constant"), total_steps=50)
    for _ in range(50):
        assert optimizer.param_groups[0]["lr"] == 1e-3
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.999) and optimizer.param_groups[0]["weight_decay"] == 1e-3


def test_a_step_schedule_multiplies_the_sgd_learning_rate_at_the_epoch_milestones():
    """The HMW authors' SGD (momentum, L2 weight decay) and MultiStepLR stepped per epoch, here per batch."""
    model = nn.Linear(3, 2)
    recipe = Recipe(optimizer="sgd", max_lr=0.02, momentum=0.9, weight_decay=5e-4, schedule="multistep",
                    milestones=(2, 4), gamma=0.1)
    optimizer, schedule = make_optimizer(model, recipe, total_steps=6 * 7, steps_per_epoch=7)
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.param_groups[0]["momentum"] == 0.9 and optimizer.param_groups[0]["weight_decay"] == 5e-4
    lrs = []
    for _ in range(6 * 7):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    per_epoch = np.array(lrs).reshape(6, 7)
    assert (per_epoch == per_epoch[:, :1]).all()  # constant within an epoch
    assert per_epoch[:, 0] == pytest.approx([0.02, 0.02, 0.002, 0.002, 0.0002, 0.0002])


class Scaled(nn.Module):
    """One learnable scale; BCE pushes it up on all-positive targets, so every epoch has another weight."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        return x[:, :2, :].mean(dim=2) * 0 + self.scale

    def loss(self, outputs, targets):
        return nn.functional.binary_cross_entropy_with_logits(outputs, targets)


def test_the_best_validation_checkpoint_is_the_one_kept():
    """The validation score peaks at epoch 3; the weights after training are those of epoch 3."""
    signals, targets = torch.randn(8, 12, 300), np.ones((8, 2), dtype=np.float32)
    recipe = Recipe(max_lr=0.1, schedule="constant", checkpoint="best_val_auc")
    scales, scores = [], iter([0.5, 0.6, 0.9, 0.7, 0.8])

    def validate(model):
        scales.append(model.scale.item())
        return next(scores)

    model = Scaled()
    history = train_model(model, signals, targets, recipe, RunSettings(epochs=5, batch_size=4, progress=False),
                          seed=0, validate=validate)
    assert len(set(scales)) == 5 and history["kept_epoch"] == 3
    assert model.scale.item() == scales[2]
    assert [epoch for epoch, _ in history["val_auc"]] == [1, 2, 3, 4, 5]


def test_the_last_checkpoint_is_kept_by_default():
    signals, targets = torch.randn(8, 12, 300), np.ones((8, 2), dtype=np.float32)
    model = Scaled()
    history = train_model(model, signals, targets, Recipe(max_lr=0.1, schedule="constant"),
                          RunSettings(epochs=3, batch_size=4, val_every=2, progress=False), seed=0,
                          validate=lambda m: m.scale.item())
    assert history["kept_epoch"] == 3 and [epoch for epoch, _ in history["val_auc"]] == [2, 3]
    assert model.scale.item() == history["val_auc"][-1][1]


class Exploding(Scaled):
    """Returns infinite logits from the first step on."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float("inf")))

    def forward(self, x):
        return x[:, :3, 0] * self.scale


def test_a_non_finite_loss_stops_training_naming_the_epoch():
    signals = torch.randn(8, 12, 300)
    targets = np.ones((8, 3), dtype=np.float32)
    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        train_model(Exploding(), signals, targets, Recipe(), RunSettings(epochs=2, batch_size=4, progress=False), seed=0)


@pytest.mark.parametrize("name", ["lstm", "lstm_bidir_ldm"])
def test_an_lstm_runs_in_float32_inside_the_bf16_training_context(name):
    """Autocast would run a cuDNN LSTM in float16; the model switches it off around its LSTM."""
    model = build_model(name, 5).train()
    seen = []
    model.backbone.lstm.register_forward_pre_hook(
        lambda module, inputs: seen.append((torch.is_autocast_enabled("cpu"), inputs[0].dtype)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = model(torch.randn(4, 12, 50))
        assert torch.is_autocast_enabled("cpu")
    assert seen == [(False, torch.float32)]
    if name == "lstm":
        assert outputs.dtype == torch.bfloat16  # the benchmark head still ran under autocast


def test_training_autocast_is_bf16_on_cuda_only_under_bf16():
    assert isinstance(training_autocast(torch.device("cpu"), "bf16"), contextlib.nullcontext)
    for precision in ("fp32", "tf32"):
        assert isinstance(training_autocast(torch.device("cuda"), precision), contextlib.nullcontext)
    context = training_autocast(torch.device("cuda"), "bf16")
    assert isinstance(context, torch.autocast) and context.fast_dtype == torch.bfloat16


def test_numerics_are_configured_from_the_settings():
    before = torch.get_num_threads()
    try:
        configure_numerics("fp32", deterministic=False, threads=1)
        assert torch.get_num_threads() == 1 and not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32 and torch.backends.cudnn.benchmark
        mkl = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        if torch.backends.mkl.is_available() and hasattr(mkl, "mkl_serv_get_dynamic"):
            assert mkl.mkl_serv_get_dynamic() == 0  # MKL may not drop threads under load
        configure_numerics("tf32", deterministic=True, threads=2)
        assert torch.get_num_threads() == 2 and torch.backends.cuda.matmul.allow_tf32
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    finally:
        configure_numerics("tf32", deterministic=False, threads=before)
    with pytest.raises(UserError, match="fp16"):
        configure_numerics("fp16")
