"""Random 2.5 s training crops cut out of records of any length, on whatever device the signals live on.

Training draws one random crop per record per epoch (the benchmark's random-crop dataset) from one
resident tensor with no Python loop over records, so a batch costs one gather. Records keep their own
lengths (ICBEB 2018's 6 s to 60 s, PTB-XL's 10 s); nothing is padded.
"""
from dataclasses import dataclass

import numpy as np
import torch

from code_used_upload.data.records import SAMPLES_PER_CHUNK, chunks, offsets_of


@dataclass(frozen=True, eq=False)
class ResidentRecords:
    """Records of any length resident on one device, in the layout crops are cut from: the samples of lead
    l of record r are one contiguous run of `values`, starting at base(r) + l * lead_stride.

    Records of one length (PTB-XL's 10 s) start every `record_stride` values and need no per-record
    tensors; records of several lengths (ICBEB 2018) carry each one's base and length on the device. A
    fold is stored lead by lead, (leads, total samples) with its records one after another along time
    (`to_device`: bases are the records' offsets, the lead stride the total); a (records, leads, time)
    tensor is the one-length case with record stride leads * time and lead stride time (`of_tensor`).
    """
    values: torch.Tensor          # 1-D
    n_records: int
    n_leads: int
    lead_stride: int
    length: int = None            # records of one length: that length, and record r's base r * record_stride
    record_stride: int = None
    lengths: torch.Tensor = None  # records of several lengths: (records,) int64 each, on the device
    bases: torch.Tensor = None

    @classmethod
    def of_tensor(cls, signals):
        """A contiguous (records, leads, time) tensor, viewed."""
        n_records, n_leads, n_time = signals.shape
        return cls(signals.view(-1), n_records, n_leads, n_time, length=n_time, record_stride=n_leads * n_time)

    @property
    def device(self):
        return self.values.device

    @property
    def shortest(self):
        return self.length if self.length is not None else int(self.lengths.min())

    def __len__(self):
        return self.n_records


def to_device(fold, device, samples_per_chunk=SAMPLES_PER_CHUNK):
    """A fold's raw records (a `data.task.Fold`, or Records) as ResidentRecords on `device`: read a chunk
    at a time and transposed to (leads, time) on their way there, so the host holds no copy of the fold
    beside the memory map (on a CPU the tensor is the one copy)."""
    lengths = np.asarray(fold.lengths)
    offsets = offsets_of(lengths)
    resident = torch.empty((fold.n_leads, int(offsets[-1])), dtype=torch.float32, device=device)
    for start, stop in chunks(lengths, samples_per_chunk):
        resident[:, offsets[start]:offsets[stop]] = torch.from_numpy(fold[start:stop].flat).T
    shape = (resident.view(-1), len(lengths), fold.n_leads, int(offsets[-1]))
    if len(lengths) and (lengths == lengths[0]).all():
        return ResidentRecords(*shape, length=int(lengths[0]), record_stride=int(lengths[0]))
    return ResidentRecords(*shape, lengths=torch.as_tensor(lengths, device=device),
                           bases=torch.as_tensor(offsets[:-1], device=device))


def random_crops(signals, rows, length, generator):
    """One random crop of `length` samples from each of the records `rows`: (len(rows), leads, length).

    `signals`: ResidentRecords, or a contiguous (records, leads, time) tensor. Start offsets are uniform
    over 0 .. len - length - 1 of each record, as the benchmark's random-crop dataset draws them:
    `random.randint(0, timesteps - output_size - 1)` (Python's randint includes both ends, so the last
    possible start, len - length, is never drawn; a record exactly one crop long starts at 0). Every
    (record, lead) crop is one row of the storage seen as every `length`-long window (a view, no copy),
    and one `index_select` copies the batch's rows.
    """
    records = signals if isinstance(signals, ResidentRecords) else ResidentRecords.of_tensor(signals)
    device = records.device
    if records.length is not None:  # one length for all (PTB-XL): the draw and the arithmetic as they have always been
        starts = torch.randint(0, max(records.length - length, 1), (len(rows),), device=device, generator=generator)
        bases = rows * records.record_stride
    else:  # uniform over each record's own range: a 62-bit draw modulo it (a bias below 1e-14)
        ranges = (records.lengths[rows] - length).clamp(min=1)
        starts = torch.randint(0, 2**62, (len(rows),), device=device, generator=generator) % ranges
        bases = records.bases[rows]
    lead_offsets = torch.arange(records.n_leads, device=device) * records.lead_stride
    offsets = bases[:, None] + lead_offsets[None, :] + starts[:, None]
    windows = records.values.unfold(0, length, 1)
    return windows.index_select(0, offsets.reshape(-1)).view(len(rows), records.n_leads, length)
