"""A labelled image set as the noisy-label runs take it: uint8 images and int64 labels, train and test.

Kept whole on the training device as uint8 (a quarter of float32's size) and normalised a batch at a
time where the batch is made (training/augment.py), with the mean and std its authors used.
"""
import math
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class ImageData:
    """Images (N, channels, height, width) uint8, labels (N,) int64 in 0..num_classes-1, and the
    per-channel mean and std (of values scaled to 0..1) that normalise them."""
    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    mean: tuple
    std: tuple


def training_subset(data, rows):
    """The ImageData of the training rows `rows` (a copy of those images; the test set and normalisation unchanged)."""
    return replace(data, train_images=data.train_images[rows], train_labels=data.train_labels[rows])


def available_memory():
    """Bytes of memory free for this process: Linux's MemAvailable (which counts what the page cache would give
    back); elsewhere no limit is known (infinity)."""
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return math.inf
