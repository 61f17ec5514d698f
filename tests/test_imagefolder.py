"""A user's image folder read as torchvision's ImageFolder reads it (data/imagefolder.py), each bad input
one clear error, and the ranked label-issues table of a run (reports/label_issues.py)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from code_used_upload.data.imagefolder import load_image_folder
from code_used_upload.errors import UserError
from code_used_upload.reports.label_issues import COLUMNS, write_label_issues

# named so that the sorted class order (eight, five, four, ...) is not the digits' order
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
N_DIGITS = 300


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    """The first 300 of scikit-learn's digits as 8 x 8 grey PNGs (0..16 scaled to 0..240) in one folder
    per class; returns the folder and each file's pixels by its relative path."""
    root = tmp_path_factory.mktemp("digits_folder")
    digits = load_digits()
    written = {}
    for i in range(N_DIGITS):
        pixels = (digits.images[i] * 15).astype(np.uint8)
        relative = f"{NAMES[digits.target[i]]}/{i:04d}.png"
        (root / relative).parent.mkdir(exist_ok=True)
        Image.fromarray(pixels, "L").save(root / relative)
        written[relative] = pixels
    return root, written


def write_images(root, images_by_class):
    """{class name: [uint8 (H, W) or (H, W, 3) arrays]} as PNGs under root/<class>/; returns root."""
    for name, images in images_by_class.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, pixels in enumerate(images):
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def grey(value, size=4):
    return np.full((size, size), value, dtype=np.uint8)


def test_grey_digits_keep_one_channel_in_sorted_class_order(digits_folder):
    root, written = digits_folder
    read = load_image_folder(root, image_size=8, val_fraction=0.2, seed=0)
    data = read.data
    assert read.class_names == sorted(NAMES)
    assert data.name == "imagefolder" and data.num_classes == 10
    assert data.train_images.dtype == np.uint8 and data.train_images.shape == (240, 1, 8, 8)
    assert data.test_images.shape == (60, 1, 8, 8)  # ceil(0.2 * 300) held out
    assert len(read.train_paths) == 240
    for row, relative in enumerate(read.train_paths):
        assert not Path(relative).is_absolute() and (root / relative).is_file()
        assert read.class_names[data.train_labels[row]] == relative.split("/")[0]
        np.testing.assert_array_equal(data.train_images[row, 0], written[relative])  # 8 -> 8: no resampling
    scaled = data.train_images / 255.0
    assert data.mean == pytest.approx((scaled.mean(),)) and data.std == pytest.approx((scaled.std(),))


def test_the_split_is_stratified_and_seeded(digits_folder):
    root, _ = digits_folder
    read = load_image_folder(root, image_size=8, val_fraction=0.2, seed=0)
    labels = np.concatenate([read.data.train_labels, read.data.test_labels])
    held_out = np.bincount(read.data.test_labels, minlength=10)
    assert np.all(np.abs(held_out - 0.2 * np.bincount(labels, minlength=10)) <= 1)
    again = load_image_folder(root, image_size=8, val_fraction=0.2, seed=0)
    assert again.train_paths == read.train_paths
    np.testing.assert_array_equal(again.data.train_images, read.data.train_images)
    assert load_image_folder(root, image_size=8, val_fraction=0.2, seed=1).train_paths != read.train_paths


def test_images_are_resized(digits_folder):
    read = load_image_folder(digits_folder[0], image_size=16, val_fraction=0.2)
    assert read.data.train_images.shape == (240, 1, 16, 16)
    with pytest.raises(UserError, match="image_size 0: give the side in pixels"):
        load_image_folder(digits_folder[0], image_size=0)


def test_grey_and_colour_images_mixed_become_rgb(tmp_path):
    red = np.zeros((4, 6, 3), dtype=np.uint8)
    red[..., 0] = 255
    root = write_images(tmp_path, {"a": [grey(100, 5), grey(100, 5)], "b": [red, red]})
    read = load_image_folder(root, image_size=4, val_fraction=0.5)
    images = np.concatenate([read.data.train_images, read.data.test_images])
    labels = np.concatenate([read.data.train_labels, read.data.test_labels])
    assert images.shape == (4, 3, 4, 4) and len(read.data.mean) == 3
    assert (images[labels == 0] == 100).all()  # grey: R = G = B
    assert (images[labels == 1][:, 0] == 255).all() and (images[labels == 1][:, 1:] == 0).all()


def two_classes(root):
    return write_images(root, {"cat": [grey(10 * i) for i in range(3)], "dog": [grey(200 - 10 * i) for i in range(3)]})


def error_of(path, **options):
    with pytest.raises(UserError) as raised:
        load_image_folder(path, image_size=4, val_fraction=0.5, **options)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_a_missing_folder_is_named(tmp_path):
    assert f"{tmp_path / 'nowhere'} is not a folder" in error_of(tmp_path / "nowhere")


def test_one_class_folder_is_not_enough(tmp_path):
    one = write_images(tmp_path / "one", {"cat": [grey(0), grey(1)]})
    message = error_of(one)
    assert f"{one} has 1 class folder (cat)" in message and "at least two" in message
    (tmp_path / "none").mkdir()
    assert f"{tmp_path / 'none'} has 0 class folders" in error_of(tmp_path / "none")


def test_an_empty_class_folder_is_named(tmp_path):
    two_classes(tmp_path)
    (tmp_path / "eel").mkdir()
    (tmp_path / "eel" / "notes.txt").write_text("not an image")
    assert f"{tmp_path / 'eel'} holds no image files" in error_of(tmp_path)


def test_a_corrupt_image_is_named_with_its_class(tmp_path):
    two_classes(tmp_path)
    (tmp_path / "dog" / "broken.png").write_bytes(b"\x00garbage, not a PNG")
    message = error_of(tmp_path)
    assert f"{tmp_path / 'dog' / 'broken.png'} (class dog) is not a readable image" in message


def test_num_class_must_match_the_folders(tmp_path):
    two_classes(tmp_path)
    message = error_of(tmp_path, num_class=3)
    assert "--num_class 3" in message and "2 class folders (cat, dog)" in message
    assert load_image_folder(tmp_path, image_size=4, val_fraction=0.5, num_class=2).data.num_classes == 2


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_val_fraction_must_hold_something_out(tmp_path, fraction):
    two_classes(tmp_path)
    with pytest.raises(UserError, match=f"val_fraction {fraction}: use a fraction strictly between 0 and 1"):
        load_image_folder(tmp_path, val_fraction=fraction)


def test_every_class_needs_images_in_both_parts(tmp_path):
    two_classes(tmp_path)
    with pytest.raises(UserError, match="leaves 1 of 6 images in the held-out part, fewer than the 2 classes"):
        load_image_folder(tmp_path, val_fraction=0.1)
    write_images(tmp_path, {"eel": [grey(5)]})
    assert f"{tmp_path / 'eel'} holds one image" in error_of(tmp_path)


def test_label_issues_rank_by_weight_ties_by_aum(tmp_path):
    weights = [0.8, 0.0, 0.5, 0.3, 0.0]
    aum = [0.2, 0.1, 0.05, -0.3, -0.1]
    table = write_label_issues(tmp_path / "out" / "label_issues.csv", [f"img{i}.png" for i in range(5)],
                               [0, 1, 2, 0, 1], [0, 2, 2, 1, 0], weights, aum, class_names=["ant", "bee", "cow"])
    assert list(table.columns) == COLUMNS
    assert table["path"].tolist() == ["img4.png", "img1.png", "img3.png", "img2.png", "img0.png"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    # the two weights of 0 are the low group, the network puts both in another class (reports/suspect_group.py)
    assert table["flagged"].tolist() == [True, True, False, False, False]
    assert table["given_label"].tolist() == ["bee", "bee", "ant", "cow", "ant"]
    assert table["predicted_label"].tolist() == ["ant", "cow", "bee", "cow", "ant"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "label_issues.csv"), table)


def test_label_issues_without_weights_rank_by_aum(tmp_path):
    table = write_label_issues(tmp_path / "label_issues.csv", ["a", "b", "c"], [0, 1, 2], [0, 0, 2],
                               [np.nan] * 3, [0.5, -1.0, 0.1])
    assert table["path"].tolist() == ["b", "c", "a"] and table["rank"].tolist() == [1, 2, 3]
    assert table["flagged"].tolist() == [True, False, False]  # the low AUM, predicted as another class
    assert table["given_label"].tolist() == [1, 2, 0] and table["weight"].isna().all()


def test_label_issues_refuse_partial_weights_and_ragged_input(tmp_path):
    with pytest.raises(ValueError, match="all finite"):
        write_label_issues(tmp_path / "x.csv", ["a", "b"], [0, 1], [0, 1], [0.3, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="one entry per training image"):
        write_label_issues(tmp_path / "x.csv", ["a"], [0, 1], [0, 1], [0.3, 0.1], [0.1, 0.2])
