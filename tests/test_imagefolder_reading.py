"""Image folders as users have them (data/imagefolder.py): hidden names and zip leftovers skipped, every
image once whatever links lead to it, every PIL mode read by its range, EXIF orientation, all unreadable
files in one message, and one array of which the training and held-out images are views."""
import os

import numpy as np
import pytest
from PIL import Image
from sklearn.model_selection import train_test_split
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

from code_used_upload.data.imagefolder import load_image_folder
from code_used_upload.errors import UserError
from test_imagefolder import grey, write_images


def deep(seed):
    """An 8 x 8 16-bit grey image over the whole 0..65535 range (a corner at each end)."""
    values = np.random.default_rng(seed).integers(0, 65536, (8, 8)).astype(np.uint16)
    values[0, 0], values[-1, -1] = 0, 65535
    return values


def all_rows(read):
    """Every image and label, training rows then held-out rows."""
    return (np.concatenate([read.data.train_images, read.data.test_images]),
            np.concatenate([read.data.train_labels, read.data.test_labels]))


def test_a_folder_as_users_have_it_reads_each_real_image_once(tmp_path):
    root, outside = tmp_path / "images", tmp_path / "elsewhere"
    written = {}
    for name, count in (("ant", 4), ("bee", 4), ("elsewhere_class", 4), ("", 1)):
        folder = (outside / name) if name in ("elsewhere_class", "") else (root / name)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = deep(len(written))
            Image.fromarray(pixels).save(folder / f"{i}.png")
            written[(folder / f"{i}.png").resolve()] = pixels
    (root / "cow").symlink_to(outside / "elsewhere_class", target_is_directory=True)  # a class folder elsewhere
    (root / "bee" / "linked.png").symlink_to(outside / "0.png")  # an image elsewhere
    os.link(root / "bee" / "0.png", root / "bee" / "1_hard_link.png")  # the same file under a second name
    (root / "ant" / "loop").symlink_to(root / "ant", target_is_directory=True)  # 10 images became 410
    for junk in (root / ".ipynb_checkpoints", root / "__MACOSX" / "ant", root / "ant" / ".ipynb_checkpoints"):
        junk.mkdir(parents=True)
        Image.fromarray(deep(99)).save(junk / "0-checkpoint.png")
    for apple_double in (root / "ant" / "._0.png", root / "__MACOSX" / "ant" / "._0.png", root / "bee" / "._1.png"):
        apple_double.write_bytes(b"\x00\x05\x16\x07 AppleDouble, not a PNG")
    (root / ".DS_Store").write_bytes(b"Bud1")

    read = load_image_folder(root, image_size=8, val_fraction=0.25, threads=2)
    images, labels = all_rows(read)
    assert read.class_names == ["ant", "bee", "cow"] and images.shape == (13, 1, 8, 8)
    assert np.bincount(labels).tolist() == [4, 5, 4]  # bee: its 4 and the linked one, not the hard link
    assert (read.skipped_hidden, read.skipped_repeats) == (5, 2)  # 3 folders, 2 ._ images; the loop, the hard link
    assert "skipped 5 folders and images" in read.notes[0] and len(read.notes) == 1
    for row, relative in enumerate(read.train_paths):
        real = (root / relative).resolve()
        expected = np.rint(written[real] / 257.0)  # by the 16-bit range, not clipped to 255
        np.testing.assert_array_equal(read.data.train_images[row, 0], expected)
    real_files = {(root / relative).resolve() for relative in read.train_paths}
    assert len(real_files) == len(read.train_paths) and "loop" not in "".join(read.train_paths)
    assert images.min() == 0 and images.max() == 255
    assert sorted(map(tuple, images.reshape(13, -1))) == sorted(
        tuple(np.rint(pixels / 257.0).astype(np.uint8).ravel()) for pixels in written.values())


def test_a_dark_16_bit_folder_says_so(tmp_path):
    twelve_bit = [np.full((4, 4), 4095, np.uint16), np.full((4, 4), 1000, np.uint16)]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i, pixels in enumerate(twelve_bit):
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    read = load_image_folder(tmp_path, image_size=4, val_fraction=0.5)
    assert read.deep_peak == 16  # 4095 / 257
    assert "reach at most 16 of 255, so 17 grey levels" in read.notes[0]


def uniform(mode, size, value):
    return Image.new(mode, (size, size), value)


def palette(transparent):
    image = Image.fromarray(np.ones((4, 4), np.uint8), "P")
    image.putpalette([0, 0, 0, 10, 200, 30])
    if transparent:
        image.info["transparency"] = 1
    return image


def one_bit():
    return Image.fromarray(np.indices((4, 4)).sum(0) % 2 == 0)


def ramp(values, dtype):
    """4 x 4, each row one of the four values."""
    return Image.fromarray(np.repeat(np.array(values, dtype)[:, None], 4, axis=1))


# class name: (the image, the file it is saved as, its PIL mode when read back, its pixels as RGB (4, 4, 3))
MODES = {
    "palette": (palette(False), "png", "P", [10, 200, 30]),
    "palette_transparent": (palette(True), "png", "P", [255, 255, 255]),  # on white, not (10, 200, 30)
    "rgba_half": (uniform("RGBA", 4, (200, 0, 0, 128)), "png", "RGBA", [227, 127, 127]),  # 200*128/255 + 255*127/255
    "grey_transparent": (uniform("LA", 4, (50, 0)), "png", "LA", [255, 255, 255]),
    "one_bit": (one_bit(), "png", "1", np.repeat((np.indices((4, 4)).sum(0) % 2 == 0)[..., None] * 255, 3, 2)),
    "float_unit": (ramp([0.0, 0.2, 0.4, 1.0], np.float32), "tif", "F",  # 0..1 by that range
                   np.repeat(np.array([0, 51, 102, 255])[:, None, None], 4, 1).repeat(3, 2)),
    "float_wide": (ramp([10.0, 20.0, 30.0, 60.0], np.float32), "tif", "F",  # beyond 0..1: its own min..max
                   np.repeat(np.array([0, 51, 102, 255])[:, None, None], 4, 1).repeat(3, 2)),
    "int32": (ramp([0, 70000, 140000, 350000], np.int32), "tif", "I",  # beyond 16 bits: its own min..max
              np.repeat(np.array([0, 51, 102, 255])[:, None, None], 4, 1).repeat(3, 2)),
    "cmyk": (uniform("CMYK", 4, (0, 255, 255, 0)), "tif", "CMYK", [255, 0, 0]),
}


def test_every_mode_is_read_by_its_range(tmp_path):
    for name, (image, suffix, mode, _) in MODES.items():
        (tmp_path / name).mkdir()
        for i in range(2):
            image.save(tmp_path / name / f"{i}.{suffix}", **image.info)
            with Image.open(tmp_path / name / f"{i}.{suffix}") as written:
                assert written.mode == mode  # the test reads what it means to
    read = load_image_folder(tmp_path, image_size=4, val_fraction=0.5)
    images, labels = all_rows(read)
    assert images.shape == (18, 3, 4, 4)
    for label, name in enumerate(read.class_names):
        expected = np.broadcast_to(np.array(MODES[name][3]), (4, 4, 3)).transpose(2, 0, 1)
        for pixels in images[labels == label]:
            np.testing.assert_allclose(pixels, expected, atol=1, err_msg=name)


def test_single_channel_modes_keep_one_channel(tmp_path):
    for name, image in (("one_bit", one_bit()), ("grey_alpha", uniform("LA", 4, (50, 255))),
                        ("float", ramp([0.0, 0.2, 0.4, 1.0], np.float32))):
        (tmp_path / name).mkdir()
        for i in range(2):
            image.save(tmp_path / name / f"{i}.{'tif' if name == 'float' else 'png'}")
    images, labels = all_rows(load_image_folder(tmp_path, image_size=4, val_fraction=0.5))
    assert images.shape == (6, 1, 4, 4)
    assert (images[labels == 1] == 50).all()  # an opaque grey with alpha keeps its value


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((32, 64, 3), np.uint8)  # stored sideways: dark left half, bright right half
    stored[:, 32:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to show: the dark half on top
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(stored).save(tmp_path / name / f"{i}.jpg", quality=95, exif=exif)
    images, _ = all_rows(load_image_folder(tmp_path, image_size=8, val_fraction=0.5))
    assert (images[:, :, :3] < 40).all() and (images[:, :, 5:] > 215).all()  # top dark, bottom bright


def test_every_unreadable_file_is_named_in_one_message(tmp_path):
    write_images(tmp_path, {name: [grey(10 * i) for i in range(3)] for name in ("cat", "dog")})
    (tmp_path / "cat" / "garbage.png").write_bytes(b"\x00garbage, not a PNG")
    whole = (tmp_path / "dog" / "0.png").read_bytes()
    (tmp_path / "dog" / "truncated.png").write_bytes(whole[: len(whole) // 2])  # its header reads; its pixels do not
    os.mkfifo(tmp_path / "cat" / "pipe.png")  # opened, it would wait for a writer forever
    with pytest.raises(UserError) as raised:
        load_image_folder(tmp_path, image_size=4, val_fraction=0.5)
    message = str(raised.value)
    assert message.startswith(f"3 unreadable files under {tmp_path}") and "\n" not in message
    for path, name in ((tmp_path / "cat" / "garbage.png", "cat"), (tmp_path / "cat" / "pipe.png", "cat"),
                       (tmp_path / "dog" / "truncated.png", "dog")):
        assert f"{path} (class {name}) is not a readable image" in message
    for i in range(9):
        (tmp_path / "dog" / f"z{i}.png").write_bytes(b"")
    with pytest.raises(UserError, match=r"^12 unreadable files .*; and 2 more; replace or delete them$") as raised:
        load_image_folder(tmp_path, image_size=4, val_fraction=0.5)
    assert str(raised.value).count("is not a readable image") == 10


def test_one_array_holds_both_parts_split_as_before(tmp_path):
    """The split is torchvision's order of files drawn by scikit-learn's stratified split with the seed,
    as before the array was laid out training rows first; and threads change nothing."""
    write_images(tmp_path, {name: [grey(3 * i + c, 5) for i in range(7)] for c, name in enumerate("xyz")})
    read = load_image_folder(tmp_path, image_size=5, val_fraction=0.3, seed=4, threads=3)
    samples = make_dataset(str(tmp_path), {"x": 0, "y": 1, "z": 2}, extensions=IMG_EXTENSIONS)
    labels = [label for _, label in samples]
    train_rows, _ = train_test_split(np.arange(21), test_size=0.3, stratify=labels, random_state=4)
    assert read.train_paths == [os.path.relpath(samples[row][0], tmp_path) for row in sorted(train_rows)]
    base = read.data.train_images.base
    assert base is read.data.test_images.base and base.shape == (21, 1, 5, 5)
    assert np.shares_memory(base, read.data.train_images) and np.shares_memory(base, read.data.test_images)
    np.testing.assert_array_equal(base[:len(train_rows)], read.data.train_images)
    one_thread = load_image_folder(tmp_path, image_size=5, val_fraction=0.3, seed=4, threads=1)
    np.testing.assert_array_equal(all_rows(one_thread)[0], all_rows(read)[0])
