"""A folder of real photographs in three classes, from scikit-learn's two bundled photographs, for the tests
and the benchmark of your own images at the sizes photos come in (nothing is downloaded).

Each image is a random square crop (a third to all of the shorter side) of one photograph, resized to
`side` and saved as a JPEG: class `china` crops the temple photograph, `flower` the flower, `china_turned`
the temple turned a quarter, so the classes differ in content and in orientation as photographs do.
"""
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

CLASSES = ("china", "flower", "china_turned")


def write_photo_folder(root, images_per_class, side, seed=0):
    """Write `images_per_class` JPEGs of `side` x `side` pixels into each of CLASSES under `root` (one
    subfolder per class, torchvision's ImageFolder layout); returns `root`."""
    root = Path(root)
    china, flower = load_sample_images().images
    sources = {"china": china, "flower": flower, "china_turned": np.rot90(china).copy()}
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        photo = Image.fromarray(sources[name])
        shorter = min(photo.size)
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(images_per_class):
            size = int(rng.integers(shorter // 3, shorter + 1))
            left = int(rng.integers(0, photo.size[0] - size + 1))
            top = int(rng.integers(0, photo.size[1] - size + 1))
            crop = photo.crop((left, top, left + size, top + size)).resize((side, side), Image.Resampling.BILINEAR)
            crop.save(root / name / f"{index:05d}.jpg", quality=90)
    return root
