"""A user's own images, one subfolder per class (torchvision's ImageFolder layout), as an ImageData.

    data_path/cat/0001.png
    data_path/cat/more/0002.jpg
    data_path/dog/0003.png

The conventions are torchvision's own, so a folder that ImageFolder reads is read the same here: the
classes are the subfolders sorted by name (class i is the i-th), the images are the files under each,
subfolders included, whose extension is one of `IMG_EXTENSIONS`, in sorted order, and PIL decodes them.
torchvision's dataset class itself is not used: it decodes an image at every visit, and the noisy-label
runs hold the whole set as uint8 on the device (data/images.py), so every image is decoded once here.

Every image is converted to RGB, except when every image of the folder is single-channel (PIL mode 'L'
or '1'): then all keep one channel, so grey 8 x 8 digits give (N, 1, 8, 8). It is then resized to
image_size x image_size with PIL's bilinear filter, which widens with the reduction and so antialiases
a downscale; the aspect ratio is not kept (as torchvision's `Resize((s, s))`).

There is no separate test set: a seeded split stratified by class holds out `val_fraction` of the
images, whose accuracy (against the labels as given) is the run's test accuracy. The normalisation is
the training part's per-channel mean and std of the pixel values scaled to 0..1, as data/digits.py.
"""
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from code_used_upload.data.images import ImageData
from code_used_upload.errors import UserError

SINGLE_CHANNEL_MODES = ("L", "1")
SHOWN_NAMES = 5  # class names a message lists before "..."


@dataclass(frozen=True)
class ImageFolderData:
    """The split images, the training rows' files (relative to the folder, '/'-separated) and the class
    names (class i is class_names[i]): what a per-image report of the training set needs. The noisy-label
    runs hold every data set so (experiments/noisy.py): CIFAR's and the digits' rows, which have no
    files, named by their index, their class names None where not known."""
    data: ImageData
    train_paths: list
    class_names: list


def load_image_folder(data_path, image_size=32, val_fraction=0.1, seed=0, num_class=None):
    """Read `data_path` (one subfolder per class) into an ImageFolderData; `seed` draws the held-out split.

    The training rows keep the folder's order (class by class, files sorted). Every check that needs no
    decoding comes first, so a wrong folder or fraction fails at once, not after reading every image.
    """
    root = Path(data_path).expanduser()
    if not root.is_dir():
        raise UserError(f"{root} is not a folder: give the folder that holds one subfolder of images per class")
    if image_size < 1:
        raise UserError(f"image_size {image_size}: give the side in pixels, at least 1, that every image is resized to")
    classes = _class_names(root)
    if num_class is not None and num_class != len(classes):
        raise UserError(f"--num_class {num_class}: {root} has {len(classes)} class folders ({_listed(classes)}); "
                        f"leave --num_class out or give {len(classes)}")
    samples = make_dataset(str(root), {name: i for i, name in enumerate(classes)}, extensions=IMG_EXTENSIONS,
                           allow_empty=True)
    labels = np.array([label for _, label in samples], dtype=np.int64)
    _check_split(root, classes, labels, val_fraction)
    train_rows, test_rows = train_test_split(np.arange(len(labels)), test_size=val_fraction, stratify=labels,
                                             random_state=seed)
    train_rows, test_rows = np.sort(train_rows), np.sort(test_rows)
    images = _decode_all(samples, classes, image_size)
    train_images = images[train_rows]
    mean, std = _channel_moments(train_images)
    data = ImageData("imagefolder", train_images, labels[train_rows], images[test_rows], labels[test_rows],
                     len(classes), mean, std)
    train_paths = [Path(samples[row][0]).relative_to(root).as_posix() for row in train_rows]
    return ImageFolderData(data, train_paths, classes)


def _class_names(root):
    """torchvision's classes (the subfolders, sorted); at least two of them."""
    try:
        classes, _ = find_classes(root)
    except FileNotFoundError:  # torchvision's word for a folder without subfolders
        classes = []
    if len(classes) < 2:
        raise UserError(f"{root} has {len(classes)} class folder{'' if len(classes) == 1 else 's'}"
                        f"{f' ({classes[0]})' if classes else ''}: a classifier needs at least two; put each "
                        f"class's images in a subfolder named after the class, {root}/<class>/<image>")
    return classes


def _listed(names):
    """The first few names, comma-separated, for a one-line message."""
    return ", ".join(names[:SHOWN_NAMES]) + (", ..." if len(names) > SHOWN_NAMES else "")


def _check_split(root, classes, labels, val_fraction):
    """Every class has images, and both parts of the split can hold every class, as a stratified split needs."""
    counts = np.bincount(labels, minlength=len(classes))
    for name, count in zip(classes, counts):
        if count == 0:
            raise UserError(f"{root / name} holds no image files ({' '.join(IMG_EXTENSIONS)}): add its images "
                            f"or remove the folder")
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"val_fraction {val_fraction}: use a fraction strictly between 0 and 1, the images held out "
                        f"to measure accuracy on")
    smallest = int(np.argmin(counts))
    if counts[smallest] < 2:
        raise UserError(f"{root / classes[smallest]} holds one image: a held-out split needs at least two images of "
                        f"every class; add images or remove the folder")
    held_out = math.ceil(val_fraction * len(labels))  # as train_test_split rounds a fraction
    for part, size in (("held-out", held_out), ("training", len(labels) - held_out)):
        if size < len(classes):
            raise UserError(f"val_fraction {val_fraction} leaves {size} of {len(labels)} images in the {part} part, "
                            f"fewer than the {len(classes)} classes: each part needs one image of every class; "
                            f"{'raise' if part == 'held-out' else 'lower'} val_fraction or add images")


def _decode_all(samples, classes, image_size):
    """(N, C, image_size, image_size) uint8, C = 1 when every image is single-channel, else 3.

    A plain loop: 5,000 JPEGs decode in about 1.5 s, and a thread pool gained nothing measurable on two
    busy cores. A grey image among colour ones is repeated over R, G and B, which is PIL's own L -> RGB.
    """
    pixels = [_decode(path, classes[label], image_size) for path, label in samples]
    if all(image.ndim == 2 for image in pixels):
        return np.stack(pixels)[:, None]
    return np.stack([np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
                     for image in pixels]).transpose(0, 3, 1, 2).copy()


def _decode(path, class_name, image_size):
    """One image as (s, s) uint8 when single-channel, else (s, s, 3) RGB; a UserError naming a file PIL cannot read."""
    try:
        with Image.open(path) as image:
            image = image.convert("L" if image.mode in SINGLE_CHANNEL_MODES else "RGB")
            return np.asarray(image.resize((image_size, image_size), Image.Resampling.BILINEAR))
    except Exception as error:  # an unreadable file fails in many ways inside PIL's plugins; all mean the same here
        raise UserError(f"{path} (class {class_name}) is not a readable image ({type(error).__name__}: {error}); "
                        f"replace or delete it") from error


def _channel_moments(images):
    """Per-channel mean and std (ddof 0) of `images` / 255, exact from each channel's histogram of the
    256 values: no float copy of a set that may be large."""
    mean, std = [], []
    for channel in range(images.shape[1]):
        counts = np.bincount(images[:, channel].ravel(), minlength=256)
        values = np.arange(256) / 255.0
        channel_mean = (counts * values).sum() / counts.sum()
        mean.append(float(channel_mean))
        std.append(float(np.sqrt((counts * (values - channel_mean) ** 2).sum() / counts.sum())))
    return tuple(mean), tuple(std)
