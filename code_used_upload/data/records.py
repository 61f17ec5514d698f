"""Records of any length, never padded: one flat array of all their samples and the offsets between them.

ICBEB 2018's records last 6 s to 60 s, PTB-XL's all 10 s; both are held the same way. `flat` holds
every record's samples one record after another along time, (total samples, leads), and `offsets`
(records + 1,) int64 says where each one starts: record r is `flat[offsets[r]:offsets[r + 1]]`.
Records of one length, a (records, time, leads) array, are the special case offsets = 0, T, 2T, ...,
which `Records.of_array` views without a copy. The signal caches keep `flat` on disk and map it
(data/ptbxl.py); a task's folds are rows of it (data/task.py), read a chunk at a time.
"""
import mmap
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Records:
    flat: object         # (total samples, leads): an array, the cache's memory map, or a tensor
    offsets: np.ndarray  # (records + 1,) int64, ascending, offsets[0] == 0

    @classmethod
    def of_array(cls, signals):
        """Records of one length, (records, time, leads), as a view: no sample is copied or read."""
        n_records, n_time, n_leads = signals.shape
        return cls(signals.reshape(n_records * n_time, n_leads), np.arange(n_records + 1, dtype=np.int64) * n_time)

    @classmethod
    def concatenate(cls, signals):
        """Records from a list of (time, leads) arrays, copied into one flat float32 array."""
        lengths = [len(signal) for signal in signals]
        return cls(np.concatenate(signals).astype(np.float32, copy=False), offsets_of(lengths))

    def __len__(self):
        return len(self.offsets) - 1

    @property
    def lengths(self):
        """(records,) int64: each record's number of samples."""
        return np.diff(self.offsets)

    @property
    def n_leads(self):
        return self.flat.shape[1]

    def __getitem__(self, index):
        """Consecutive records (a slice with step 1) as Records over a view of the same samples."""
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise ValueError("Records slice only consecutive records (a step of 1)")
        first, last = self.offsets[start], self.offsets[max(start, stop)]
        return Records(self.flat[first:last], self.offsets[start:max(start, stop) + 1] - first)

    def take(self, rows):
        """The records `rows` (in their order) as new Records in RAM: float32, one gather of their samples.

        Read from the cache's memory map, this process's mapping of the file's pages is dropped right
        after (MADV_DONTNEED; the OS keeps the pages cached), so that reading folds a chunk at a time
        never makes the whole file resident in the process.
        """
        rows = np.asarray(rows, dtype=np.int64)
        starts, lengths = self.offsets[rows], self.offsets[rows + 1] - self.offsets[rows]
        offsets = offsets_of(lengths)
        samples = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        block = np.asarray(self.flat[samples], dtype=np.float32)
        mapping = getattr(self.flat, "_mmap", None)  # np.memmap's own mmap object (views share it)
        if mapping is not None:
            mapping.madvise(mmap.MADV_DONTNEED)
        return Records(block, offsets)


def offsets_of(lengths):
    """(len(lengths) + 1,) int64: 0 and the running sum of the lengths."""
    return np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))


def as_records(signals):
    """`signals` as Records (or a `data.task.Fold` of them) unchanged, a (records, time, leads) array or
    tensor as `Records.of_array`."""
    return signals if hasattr(signals, "lengths") else Records.of_array(signals)


def chunks(sizes, capacity):
    """[(start, stop)]: consecutive runs of items whose sizes add up to at most `capacity` (an item larger
    than that makes a run alone), in order: how records are read, moved and evaluated a batch at a time.
    Items all of size s make runs of max(1, capacity // s) items."""
    ends = np.cumsum(sizes)
    bounds, start = [], 0
    while start < len(ends):
        before = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, before + capacity, side="right")))
        bounds.append((start, stop))
        start = stop
    return bounds


def equal_sizes(sizes):
    """[(size, indices)] of the items grouped by equal size: a reduction over items of one size is one
    rectangular block, so a segment reduction costs one step per distinct size, never one per item."""
    sizes = np.asarray(sizes)
    return [(int(size), np.flatnonzero(sizes == size)) for size in np.unique(sizes)]


# a chunk of 256 PTB-XL records at 500 Hz (61 MB as float32): the moments' pass reads this many samples at a
# time, and a fold moves to the training device this many at a time (training/crops.py)
SAMPLES_PER_CHUNK = 256 * 5000


def record_moments(records, samples_per_chunk=SAMPLES_PER_CHUNK):
    """(records, 3) float64: each record's number of values, mean and centred sum of squares.

    One pass over chunks of records in float64, each record's squares taken about its own mean, so no
    sum of squares loses the small variance to cancellation. Records of one length are reduced together
    as a (records, values) block (`equal_sizes`): PTB-XL's records are one such group, summed exactly as
    ever; ICBEB 2018's fall into a few thousand lengths, a pass made once per signal cache.
    """
    records = as_records(records)
    moments = np.empty((len(records), 3))
    moments[:, 0] = records.lengths * records.n_leads
    for length, rows in equal_sizes(records.lengths):
        for start, stop in chunks(np.full(len(rows), length), samples_per_chunk):
            block = records.take(rows[start:stop]).flat.astype(np.float64).reshape(stop - start, -1)
            means = block.mean(axis=1)
            moments[rows[start:stop], 1] = means
            moments[rows[start:stop], 2] = np.square(block - means[:, None]).sum(axis=1)
    return moments


@dataclass(frozen=True, eq=False)
class LeadSubset:
    """Records seen through some of their leads (`columns`, in that order): Records as far as `len`, `lengths`,
    `n_leads`, `take` and slicing go, so a fold, its moments and its evaluation read only these leads, a
    chunk at a time, from the cache that keeps all of them."""
    records: Records
    columns: tuple

    def __len__(self):
        return len(self.records)

    @property
    def offsets(self):
        return self.records.offsets

    @property
    def lengths(self):
        return self.records.lengths

    @property
    def n_leads(self):
        return len(self.columns)

    def _only_these(self, block):
        return Records(np.ascontiguousarray(np.asarray(block.flat)[:, list(self.columns)]), block.offsets)

    def __getitem__(self, index):
        return self._only_these(self.records[index])

    def take(self, rows):
        return self._only_these(self.records.take(rows))
