"""Random 2.5 s training crops cut out of 10 s records, on whatever device the signals live on.

Training draws one random crop per record per epoch (the benchmark's random-crop dataset) from one
resident (records, leads, time) tensor with no Python loop over records, so a batch costs one gather.
"""
import torch


def random_crops(signals, rows, length, generator):
    """One random crop of `length` samples from each of `signals[rows]`: (len(rows), leads, length).

    Start offsets are uniform over 0 .. time - length - 1, as the benchmark's random-crop dataset draws
    them: `random.randint(0, timesteps - output_size - 1)` (Python's randint includes both ends, so
    the last possible start, time - length, is never drawn; a record exactly one crop long starts at
    0). `signals` must be contiguous: its storage, seen as every `length`-long window (a view, no
    copy), gives each (record, lead) crop as one row, and one `index_select` copies the batch's rows.
    """
    n_records, n_leads, n_time = signals.shape
    starts = torch.randint(0, max(n_time - length, 1), (len(rows),), device=signals.device, generator=generator)
    lead_offsets = torch.arange(n_leads, device=signals.device) * n_time
    offsets = rows[:, None] * (n_leads * n_time) + lead_offsets[None, :] + starts[:, None]
    windows = signals.view(-1).unfold(0, length, 1)
    return windows.index_select(0, offsets.reshape(-1)).view(len(rows), n_leads, length)
