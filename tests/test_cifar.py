"""CIFAR reading (the stand-in read back, the restricted unpickler, damaged files, an offline download)
and the device augmentation against torchvision's transforms."""
import os
import pickle

import numpy as np
import pytest
import torch
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image

from code_used_upload.data.cifar import MEAN, STD, load_cifar, restricted_unpickle, write_cifar_standin
from code_used_upload.errors import UserError
from code_used_upload.training.augment import augment, crop_and_flip, draw_crops_and_flips, normalise


def read_back_pickle(path):
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")  # the test's own, trusted files only


@pytest.mark.parametrize("dataset, names", [
    ("cifar10", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]),
    ("cifar100", ["train", "test", "meta"]),
])
def test_the_standin_reads_back_as_written(tmp_path, dataset, names):
    write_cifar_standin(tmp_path, dataset, n_train=230, n_test=70, seed=0)
    folder = tmp_path / ("cifar-10-batches-py" if dataset == "cifar10" else "cifar-100-python")
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    data = load_cifar(tmp_path, dataset, download=False)
    num_classes = 10 if dataset == "cifar10" else 100
    assert data.num_classes == num_classes and data.mean == MEAN[dataset] and data.std == STD[dataset]
    assert data.train_images.shape == (230, 3, 32, 32) and data.test_images.shape == (70, 3, 32, 32)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.int64
    label_key = "labels" if dataset == "cifar10" else "fine_labels"
    written = [read_back_pickle(folder / name) for name in names[:-2]]  # the training batches
    np.testing.assert_array_equal(data.train_images.reshape(230, -1), np.concatenate([b["data"] for b in written]))
    np.testing.assert_array_equal(data.train_labels, np.concatenate([b[label_key] for b in written]))
    test = read_back_pickle(folder / names[-2])
    np.testing.assert_array_equal(data.test_images.reshape(70, -1), test["data"])
    np.testing.assert_array_equal(data.test_labels, test[label_key])
    expected_keys = {"batch_label", "labels", "data", "filenames"} if dataset == "cifar10" else \
        {"batch_label", "fine_labels", "coarse_labels", "data", "filenames"}
    assert set(test) == expected_keys
    assert np.bincount(data.train_labels, minlength=num_classes).max() - np.bincount(data.train_labels).min() <= 1


def test_the_standin_is_seeded_and_learnable(tmp_path):
    write_cifar_standin(tmp_path / "a", "cifar10", 500, 200, seed=1)
    write_cifar_standin(tmp_path / "b", "cifar10", 500, 200, seed=1)
    write_cifar_standin(tmp_path / "c", "cifar10", 500, 200, seed=2)
    a, b, c = (load_cifar(tmp_path / name, "cifar10", download=False) for name in "abc")
    np.testing.assert_array_equal(a.train_images, b.train_images)
    assert not np.array_equal(a.train_images, c.train_images)
    # a nearest-class-mean colour classifier trained on one seed's set works on another's test set
    colour = lambda images: images.reshape(len(images), 3, -1).mean(-1)
    means = np.stack([colour(a.train_images)[a.train_labels == k].mean(0) for k in range(10)])
    predicted = np.argmin(((colour(c.test_images)[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (predicted == c.test_labels).mean() > 0.9  # measured 1.000: the class colours are far apart


class CreatesAFile:
    """A pickle payload that would create a file when unpickled, through os.system or builtins.open."""

    def __init__(self, target, how):
        self.target, self.how = target, how

    def __reduce__(self):
        if self.how == "os":
            return os.system, (f"touch {self.target}",)
        return open, (str(self.target), "w")


@pytest.mark.parametrize("how", ["os", "open"])
def test_a_malicious_pickle_is_refused_and_nothing_runs(tmp_path, how):
    write_cifar_standin(tmp_path, "cifar10", 50, 10, seed=0)
    target = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    with open(batch, "wb") as handle:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1], "payload": CreatesAFile(target, how)},
                    handle, protocol=2)
    with pytest.raises(UserError) as refused:
        load_cifar(tmp_path, "cifar10", download=False)
    assert str(batch) in str(refused.value) and "no CIFAR batch holds" in str(refused.value)
    assert ("system" if how == "os" else "open") in str(refused.value)
    assert not target.exists()


def test_a_truncated_file_is_named(tmp_path):
    write_cifar_standin(tmp_path, "cifar100", 40, 10, seed=0)
    train = tmp_path / "cifar-100-python" / "train"
    train.write_bytes(train.read_bytes()[: train.stat().st_size // 2])
    with pytest.raises(UserError, match="truncated or corrupt") as error:
        load_cifar(tmp_path, "cifar100", download=False)
    assert str(train) in str(error.value)


@pytest.mark.parametrize("batch, complaint", [
    ({"data": np.zeros((3, 1024), np.uint8), "labels": [0, 1, 2]}, "uint8 \\(n, 3072\\) array"),
    ({"data": np.zeros((3, 3072), np.float32), "labels": [0, 1, 2]}, "uint8 \\(n, 3072\\) array"),
    ({"data": np.zeros((3, 3072), np.uint8), "labels": [0, 1]}, "one class in 0..9 per image"),
    ({"data": np.zeros((3, 3072), np.uint8), "labels": [0, 1, 10]}, "one class in 0..9 per image"),
    ([1, 2, 3], "uint8 \\(n, 3072\\) array"),
])
def test_a_batch_of_the_wrong_shape_is_named(tmp_path, batch, complaint):
    write_cifar_standin(tmp_path, "cifar10", 50, 10, seed=0)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    with open(path, "wb") as handle:
        pickle.dump(batch, handle, protocol=2)
    with pytest.raises(UserError, match=complaint) as error:
        load_cifar(tmp_path, "cifar10", download=False)
    assert str(path) in str(error.value)


def test_a_missing_batch_file_is_named(tmp_path):
    write_cifar_standin(tmp_path, "cifar10", 50, 10, seed=0)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(UserError, match="data_batch_4 is missing"):
        load_cifar(tmp_path, "cifar10", download=False)


def test_the_restricted_unpickler_reads_what_numpy_pickles_at_protocol_2(tmp_path):
    path = tmp_path / "batch"
    expected = {"data": np.arange(6, dtype=np.uint8).reshape(2, 3), "labels": [1, 2], "batch_label": "b", "x": b"\xff", "empty": np.zeros((0, 3), np.uint8)}
    with open(path, "wb") as handle:
        pickle.dump(expected, handle, protocol=2)
    loaded = restricted_unpickle(path)
    for key in ("data", "empty"):
        np.testing.assert_array_equal(loaded.pop(key), expected.pop(key))
    assert loaded == expected


# {'data': uint8 [[0, 1, 2], [253, 254, 255]], 'labels': [1, 2]} as Python 2's cPickle wrote the archive's
# files: numpy.core's _reconstruct, the array's bytes as a py2 str (SHORT_BINSTRING), read with latin1
PYTHON2_BATCH = (
    b"\x80\x02}q\x00(U\x04dataq\x01cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03K\x00\x85U\x01b"
    b"\x87Rq\x04(K\x01K\x02K\x03\x86cnumpy\ndtype\nq\x05U\x02u1K\x00K\x01\x87Rq\x06(K\x03U\x01|NNNJ\xff\xff\xff\xff"
    b"J\xff\xff\xff\xffK\x00tb\x89U\x06\x00\x01\x02\xfd\xfe\xfftbU\x06labelsq\x07]q\x08(K\x01K\x02eu."
)


def test_the_restricted_unpickler_reads_a_python2_batch_like_the_archives(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(PYTHON2_BATCH)
    loaded = restricted_unpickle(path)
    np.testing.assert_array_equal(loaded["data"], np.array([[0, 1, 2], [253, 254, 255]], np.uint8))
    assert loaded["data"].dtype == np.uint8 and loaded["labels"] == [1, 2]


def test_an_offline_download_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(UserError) as error:
        load_cifar(tmp_path / "data", "cifar10")
    message = str(error.value)
    assert "\n" not in message and "could not download cifar10 from http://127.0.0.1:9/" in message
    assert f"extract cifar-10-python.tar.gz into {tmp_path / 'data'}" in message
    with pytest.raises(UserError, match="cifar-100-python is missing: download https://"):
        load_cifar(tmp_path / "data", "cifar100", download=False)
    with pytest.raises(UserError, match="dataset 'mnist'"):
        load_cifar(tmp_path, "mnist")


# augmentation: the same numbers as torchvision's transforms of the PIL image

def torchvision_augmentation(image_chw, top, left, flip, mean, std):
    """RandomCrop(32, padding=4) at (top, left), RandomHorizontalFlip when `flip`, ToTensor, Normalize."""
    pil = Image.fromarray(image_chw.transpose(1, 2, 0))
    cropped = TF.crop(TF.pad(pil, 4, fill=0), top, left, 32, 32)
    if flip:
        cropped = TF.hflip(cropped)
    return TF.normalize(TF.to_tensor(cropped), mean, std)


def test_an_augmented_sample_is_torchvisions_transform_of_the_image(tmp_path):
    write_cifar_standin(tmp_path, "cifar10", 20, 5, seed=0)
    data = load_cifar(tmp_path, "cifar10", download=False)
    images = torch.from_numpy(data.train_images)
    rows = torch.tensor([3, 0, 7, 7, 12, 19])
    tops = torch.tensor([0, 8, 4, 1, 8, 0])
    lefts = torch.tensor([0, 8, 4, 7, 0, 8])
    flips = torch.tensor([False, True, False, True, True, False])
    ours = normalise(crop_and_flip(images, rows, tops, lefts, flips), data.mean, data.std)
    for i, row in enumerate(rows.tolist()):
        expected = torchvision_augmentation(data.train_images[row], int(tops[i]), int(lefts[i]), bool(flips[i]), data.mean, data.std)
        assert torch.equal(ours[i], expected), i
    assert torch.equal(normalise(images[:5], data.mean, data.std),
                       torch.stack([TF.normalize(TF.to_tensor(Image.fromarray(im.transpose(1, 2, 0))), data.mean, data.std)
                                    for im in data.train_images[:5]]))


def test_the_padding_is_zero():
    images = torch.full((1, 3, 32, 32), 200, dtype=torch.uint8)
    crop = crop_and_flip(images, torch.tensor([0]), torch.tensor([0]), torch.tensor([8]), torch.tensor([True]))
    assert (crop[0, :, :4, :] == 0).all() and (crop[0, :, :, :4] == 0).all()  # top rows; right columns, flipped left
    assert (crop[0, :, 4:, 4:] == 200).all()


def test_offsets_cover_zero_to_eight_and_a_generator_repeats_its_batches():
    generator = torch.Generator().manual_seed(0)
    tops, lefts, flips = draw_crops_and_flips(20_000, generator, torch.device("cpu"))
    for offsets in (tops, lefts):
        counts = torch.bincount(offsets, minlength=9)
        assert len(counts) == 9 and counts.min() > 0.9 * 20_000 / 9
    assert abs(flips.float().mean().item() - 0.5) < 0.02
    assert (tops != lefts).float().mean() > 0.8  # drawn independently
    images = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    rows = torch.tensor([4, 1, 1, 9])
    first = augment(images, rows, MEAN["cifar10"], STD["cifar10"], torch.Generator().manual_seed(5))
    again = augment(images, rows, MEAN["cifar10"], STD["cifar10"], torch.Generator().manual_seed(5))
    other = augment(images, rows, MEAN["cifar10"], STD["cifar10"], torch.Generator().manual_seed(6))
    assert first.shape == (4, 3, 32, 32) and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, other)
