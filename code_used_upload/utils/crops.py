"""Cutting 2.5 s pieces out of 10 s records, on whatever device the signals live on.

Training draws one random crop per record per epoch (the benchmark's random-crop dataset);
evaluation cuts every record into windows of 2.5 s at a 1.25 s stride and keeps, per label, the
maximum over the windows. Both work on one resident (records, leads, time) tensor with no Python
loop over records, so a batch costs one gather.
"""
import torch

CROP_SECONDS = 2.5
STRIDE_SECONDS = 1.25


def crop_length(sampling_frequency):
    """Samples in one 2.5 s crop: 250 at 100 Hz, 1250 at 500 Hz."""
    return int(round(CROP_SECONDS * sampling_frequency))


def window_stride(sampling_frequency):
    """Samples between evaluation windows: 1.25 s."""
    return int(round(STRIDE_SECONDS * sampling_frequency))


def random_crops(signals, rows, length, generator):
    """One random crop of `length` samples from each of `signals[rows]`: (len(rows), leads, length).

    Start offsets are uniform over every valid position (0 .. time - length inclusive), as the
    benchmark's `random.randint(0, timesteps - length)`. `signals` must be contiguous: its storage,
    seen as every `length`-long window (a view, no copy), gives each (record, lead) crop as one row,
    and one `index_select` copies the batch's rows.
    """
    n_records, n_leads, n_time = signals.shape
    starts = torch.randint(0, n_time - length + 1, (len(rows),), device=signals.device, generator=generator)
    lead_offsets = torch.arange(n_leads, device=signals.device) * n_time
    offsets = rows[:, None] * (n_leads * n_time) + lead_offsets[None, :] + starts[:, None]
    windows = signals.view(-1).unfold(0, length, 1)
    return windows.index_select(0, offsets.reshape(-1)).view(len(rows), n_leads, length)


def sliding_windows(signals, length, stride):
    """All windows of `length` samples at `stride` of each record: (records, windows, leads, length).

    A strided view: no copy is made until the windows are fed to a model.
    """
    if signals.shape[-1] < length:
        raise ValueError(f"records of {signals.shape[-1]} samples are shorter than one window of {length}")
    return signals.unfold(2, length, stride).permute(0, 2, 1, 3)
