"""A noisy-label run's data: the images read once per process, their fingerprints, and the run's noisy labels.

Every data set is held as an ImageFolderData (data/imagefolder.py): CIFAR's and the digits' training rows,
which have no files, named by their index, their class names where known. It is read once per process
and kept for the next call with the same data set, whatever the call's form, so that a grid checks its
runs' identities and trains from the one copy in memory.
"""
import hashlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from code_used_upload.data.cifar import CIFAR10_NAMES, load_cifar
from code_used_upload.data.digits import load_digits_split
from code_used_upload.data.imagefolder import ImageFolderData, load_image_folder
from code_used_upload.data.cifar_n import cifar_n_file
from code_used_upload.data.noise import cifar_n_labels, noisy_labels
from code_used_upload.errors import UserError
from code_used_upload.experiments.noisy_run import HUMAN, IMAGE_SIZE, VAL_FRACTION
from code_used_upload.models.noisy import IMAGE_FOLDER

CLASS_NAMES = {"cifar10": CIFAR10_NAMES}  # label_issues.csv's names of the classes (else their numbers)
SPLIT_SEED = 0  # imagefolder: one held-out split for every seed, so that seeds are compared on the same images
KEPT = 2        # data sets kept in memory: a grid over CIFAR-10 and CIFAR-100 reads each once
_loaded = OrderedDict()  # (dataset, folder, image size, held-out share) -> (ImageFolderData, its fingerprint or None)


def _key(dataset, data_path, image_size, val_fraction):
    folder = str(Path(data_path).expanduser().resolve())
    if dataset == IMAGE_FOLDER:
        return (dataset, folder, IMAGE_SIZE if image_size is None else image_size,
                VAL_FRACTION if val_fraction is None else val_fraction)
    return (dataset, folder if dataset != "digits" else None, None, None)


def load_images(dataset, data_path, download=True, image_size=None, val_fraction=None, num_class=None, threads=None):
    """The data set as an ImageFolderData, read once per process (`download`: CIFAR is downloaded when missing).
    `image_size`, `val_fraction` (None: IMAGE_SIZE, VAL_FRACTION), `num_class` (a check of the class folders)
    and `threads` (the decoding threads; None: every core) are an image folder's, whose notes (what its
    reading passed over) go to the run's log."""
    key = _key(dataset, data_path, image_size, val_fraction)
    if key not in _loaded:
        if dataset == IMAGE_FOLDER:
            images = load_image_folder(data_path, key[2], key[3], SPLIT_SEED, num_class, threads=threads)
            for note in images.notes:
                print(note)
        else:
            data = load_digits_split() if dataset == "digits" else load_cifar(data_path, dataset, download=download)
            images = ImageFolderData(data, [str(row) for row in range(len(data.train_labels))], CLASS_NAMES.get(dataset))
        _loaded[key] = [images, None]
        while len(_loaded) > KEPT:
            _loaded.popitem(last=False)
    _loaded.move_to_end(key)
    images = _loaded[key][0]
    if num_class is not None and num_class != images.data.num_classes:
        raise UserError(f"--num_class {num_class}: {data_path} has {images.data.num_classes} classes; leave --num_class "
                        f"out or give {images.data.num_classes}")
    return images


def loaded_fingerprint(dataset, data_path, image_size=None, val_fraction=None):
    """The fingerprint of the images `load_images` reads, hashed once per process."""
    load_images(dataset, data_path, image_size=image_size, val_fraction=val_fraction)
    entry = _loaded[_key(dataset, data_path, image_size, val_fraction)]
    if entry[1] is None:
        entry[1] = data_fingerprint(entry[0].data)
    return entry[1]


def fingerprint(*arrays):
    """SHA-256 over the arrays' dtypes, shapes and bytes: the same data gives the same text on any machine."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def data_fingerprint(data):
    return fingerprint(data.train_images, data.train_labels, data.test_images, data.test_labels)


def run_labels(run, data):
    """(noisy labels int64 (N,), is_noisy bool (N,)): the labels the run trains on and which of them are wrong.
    CIFAR-N's people's labels are read from their file in the run's data folder (downloaded there when
    missing), their mistakes those that differ from CIFAR's labels."""
    setting = run.setting
    if setting.mode == HUMAN:
        labels = cifar_n_labels(cifar_n_file(run.data_path, setting.dataset), setting.label_set, data.train_labels)
        return labels, labels != data.train_labels
    return noisy_labels(data.train_labels, data.num_classes, setting.mode, setting.rate, run.seed)
