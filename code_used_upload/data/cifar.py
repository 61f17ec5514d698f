"""CIFAR-10/100 from the official python-version archives, read as the HMW authors read them, and a stand-in.

`data_path/cifar-10-batches-py/` holds data_batch_1..5 and test_batch; `data_path/cifar-100-python/`
holds train and test (fine labels are the classes). Each file is a pickled dict whose `data` is a
uint8 (n, 3072) array, one image a row, channel-major (1024 red, 1024 green, 1024 blue values). The
authors read them with an unrestricted `pickle.load(..., encoding='latin1')`; a pickle can run any code,
so here a restricted unpickler (data/restricted_pickle.py) admits only what these files hold and refuses
anything else before it runs. torchvision's dataset classes are not used: they unpickle unrestricted.
A missing folder is downloaded with torchvision's helper, from torchvision's own URL and with its md5 checked.

Images come back as (N, 3, 32, 32) uint8: the files' own row layout (no transpose), the layout the
network takes, and a quarter of float32's size for a set kept whole on the device.
"""
import pickle
import tarfile
from pathlib import Path

import numpy as np

from code_used_upload.data.images import ImageData
from code_used_upload.data.restricted_pickle import unpickle_arrays
from code_used_upload.errors import UserError

# the authors' Normalize((mean), (std)) per dataset (dataloader_cifar.py), RGB
MEAN = {"cifar10": (0.4914, 0.4822, 0.4465), "cifar100": (0.507, 0.487, 0.441)}
STD = {"cifar10": (0.2023, 0.1994, 0.2010), "cifar100": (0.267, 0.256, 0.276)}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
TRAIN_FILES = {"cifar10": [f"data_batch_{i}" for i in range(1, 6)], "cifar100": ["train"]}
TEST_FILES = {"cifar10": ["test_batch"], "cifar100": ["test"]}
LABEL_KEYS = {"cifar10": "labels", "cifar100": "fine_labels"}
IMAGE_SHAPE = (3, 32, 32)
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def load_cifar(data_path, dataset, download=True):
    """Read `dataset` ("cifar10" or "cifar100") under `data_path`, downloading it first if its folder is missing."""
    if dataset not in FOLDERS:
        raise UserError(f"dataset {dataset!r}: use one of {', '.join(FOLDERS)}")
    folder = Path(data_path) / FOLDERS[dataset]
    if not folder.is_dir():
        if not download:
            raise UserError(f"{folder} is missing: {_how_to_get(data_path, dataset)}, or let the run download it")
        _download(data_path, dataset)
    train_images, train_labels = _read_split(folder, TRAIN_FILES[dataset], dataset)
    test_images, test_labels = _read_split(folder, TEST_FILES[dataset], dataset)
    return ImageData(dataset, train_images, train_labels, test_images, test_labels, NUM_CLASSES[dataset], MEAN[dataset],
                     STD[dataset])


def _torchvision_source(dataset):
    """torchvision's (url, archive name, md5) for the dataset, read when asked (so a test can redirect it)."""
    from torchvision.datasets import CIFAR10, CIFAR100
    source = CIFAR10 if dataset == "cifar10" else CIFAR100
    return source.url, source.filename, source.tgz_md5


def _how_to_get(data_path, dataset):
    url, filename, _ = _torchvision_source(dataset)
    return f"download {url} and extract {filename} into {data_path} (the archive holds {FOLDERS[dataset]}/)"


def _download(data_path, dataset):
    """Download and extract the official archive with its md5 checked; one clear error when that fails."""
    from torchvision.datasets.utils import download_and_extract_archive
    url, filename, md5 = _torchvision_source(dataset)
    try:
        download_and_extract_archive(url, download_root=str(data_path), filename=filename, md5=md5)
    except (OSError, RuntimeError, tarfile.TarError) as error:
        raise UserError(f"could not download {dataset} from {url} ({error}): on a machine with a network "
                        f"connection, {_how_to_get(data_path, dataset)}") from error
    if not (Path(data_path) / FOLDERS[dataset]).is_dir():
        raise UserError(f"{filename} did not hold {FOLDERS[dataset]}/: {_how_to_get(data_path, dataset)}")


def _read_split(folder, names, dataset):
    """Concatenate the named batch files: images (N, 3, 32, 32) uint8, labels (N,) int64."""
    batches = [_read_batch(folder / name, LABEL_KEYS[dataset], NUM_CLASSES[dataset]) for name in names]
    images = np.concatenate([images for images, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    return images, labels


def _read_batch(path, label_key, num_classes):
    """One batch file, checked: its images and labels, or a UserError naming the file."""
    if not path.is_file():
        raise UserError(f"{path} is missing: delete {path.parent} and run again to download the set afresh")
    batch = restricted_unpickle(path)
    data = batch.get("data") if isinstance(batch, dict) else None
    labels = batch.get(label_key) if isinstance(batch, dict) else None
    size = int(np.prod(IMAGE_SHAPE))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == size):
        raise UserError(f"{path} is not a CIFAR batch: it needs 'data', a uint8 (n, {size}) array; "
                        f"delete {path.parent} and run again to download the set afresh")
    labels = _class_indices(labels)
    if labels is None or labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() >= num_classes)):
        raise UserError(f"{path} is not a CIFAR batch: it needs '{label_key}', one class in 0..{num_classes - 1} "
                        f"per image; delete {path.parent} and run again to download the set afresh")
    return data.reshape(len(data), *IMAGE_SHAPE), labels


def _class_indices(labels):
    """A batch's label list as int64, or None when it is no list of integers."""
    try:
        return np.asarray(labels, dtype=np.int64) if isinstance(labels, list) else None
    except (TypeError, ValueError, OverflowError):
        return None


def restricted_unpickle(path):
    """A CIFAR batch file, read by the restricted unpickler (data/restricted_pickle.py)."""
    return unpickle_arrays(path, "CIFAR batch", f"delete {Path(path).parent} and run again to download the set afresh")


def write_cifar_standin(folder, dataset, n_train, n_test, seed):
    """Write a small learnable stand-in of `dataset` under `folder` in the official layout; returns `folder`.

    The same files and pickle structure (protocol 2, the official keys, channel-major uint8 rows) as the
    archive, with balanced classes; each class has a fixed colour and stripe pattern (the same for every
    seed, so train and test agree) under noise, which survives crops and flips. CIFAR-100's label names
    and coarse labels are placeholders (coarse = fine % 20), not the real ones.
    """
    if dataset not in FOLDERS:
        raise UserError(f"dataset {dataset!r}: use one of {', '.join(FOLDERS)}")
    num_classes = NUM_CLASSES[dataset]
    root = Path(folder) / FOLDERS[dataset]
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    signatures = _class_signatures(num_classes)
    train = _standin_images(n_train, signatures, rng)
    test = _standin_images(n_test, signatures, rng)
    if dataset == "cifar10":
        for i, (data, labels) in enumerate(zip(*(np.array_split(a, 5) for a in train)), start=1):
            _dump(root / f"data_batch_{i}", _cifar10_batch(data, labels, f"training batch {i} of 5"))
        _dump(root / "test_batch", _cifar10_batch(*test, "testing batch 1 of 1"))
        _dump(root / "batches.meta", {"num_cases_per_batch": 10000, "label_names": CIFAR10_NAMES, "num_vis": 3072})
    else:
        _dump(root / "train", _cifar100_batch(*train, "training batch 1 of 1"))
        _dump(root / "test", _cifar100_batch(*test, "testing batch 1 of 1"))
        _dump(root / "meta", {"fine_label_names": [f"class_{c:02d}" for c in range(100)],
                              "coarse_label_names": [f"superclass_{c:02d}" for c in range(20)]})
    return Path(folder)


def _class_signatures(num_classes):
    """Per class: an RGB offset and a stripe direction and frequency; fixed across seeds."""
    rng = np.random.default_rng(20240)
    colours = rng.uniform(-1.0, 1.0, (num_classes, 3))
    angles = rng.uniform(0, np.pi, num_classes)
    frequencies = rng.uniform(0.2, 0.8, num_classes)
    return colours, angles, frequencies


def _standin_images(n, signatures, rng):
    """n balanced labelled images, as the files store them: (n, 3072) uint8 rows and (n,) labels."""
    colours, angles, frequencies = signatures
    labels = rng.permutation(np.arange(n) % len(colours))
    y, x = np.mgrid[0:32, 0:32]
    phase = (np.cos(angles[labels])[:, None, None] * x + np.sin(angles[labels])[:, None, None] * y)
    stripes = np.sin(frequencies[labels][:, None, None] * phase)  # (n, 32, 32)
    images = 128 + 50 * colours[labels][:, :, None, None] + 30 * stripes[:, None] + rng.normal(0, 25, (n, 3, 32, 32))
    return np.clip(np.rint(images), 0, 255).astype(np.uint8).reshape(n, -1), labels


def _cifar10_batch(data, labels, batch_label):
    return {"batch_label": batch_label, "labels": labels.tolist(), "data": data,
            "filenames": [f"standin_{i:06d}.png" for i in range(len(data))]}


def _cifar100_batch(data, labels, batch_label):
    return {"filenames": [f"standin_{i:06d}.png" for i in range(len(data))], "batch_label": batch_label,
            "fine_labels": labels.tolist(), "coarse_labels": (labels % 20).tolist(), "data": data}


def _dump(path, obj):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)
