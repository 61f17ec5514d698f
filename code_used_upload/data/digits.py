"""scikit-learn's bundled digits: 1,797 real 8 x 8 handwritten digits in 10 classes, for a noisy-label
run that a CPU finishes in seconds (the HMW demo). Bundled with scikit-learn, so nothing is downloaded.

The split is fixed and stratified (70% training, 30% test, `random_state` 0: 1,257 and 540 images), so
every run and every seed sees the same test set; label noise is drawn on the training labels only.
Pixel values are 0..16, kept as uint8; the normalisation is the training set's own mean and std.
"""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from code_used_upload.data.images import ImageData

TEST_FRACTION = 0.3
SPLIT_SEED = 0


def load_digits_split():
    """The digits as an ImageData: (N, 1, 8, 8) uint8 images, the fixed stratified split."""
    digits = load_digits()
    images = digits.images.astype(np.uint8)[:, None]  # 0..16, exactly representable
    labels = digits.target.astype(np.int64)
    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED)
    scaled = train_images / 255.0  # as the batches are scaled before normalising (training/augment.py)
    return ImageData("digits", train_images, train_labels, test_images, test_labels, 10,
                     (float(scaled.mean()),), (float(scaled.std()),))
