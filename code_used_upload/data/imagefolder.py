"""A user's own images, one subfolder per class (torchvision's ImageFolder layout), as an ImageData.

    data_path/cat/0001.png
    data_path/cat/more/0002.jpg
    data_path/dog/0003.png

The conventions are torchvision's own, so a folder that ImageFolder reads is read the same here: the
classes are the subfolders sorted by name (class i is the i-th), the images are the files under each,
subfolders and links included, whose extension is one of `IMG_EXTENSIONS`, in sorted order, and PIL
decodes them. torchvision's dataset class itself is not used: it decodes an image at every visit, and the
noisy-label runs hold the whole set as uint8 on the device (data/images.py), so every image is decoded
once here. Three departures, for folders as users have them:
- names starting with '.' and `__MACOSX` are skipped, as classes and anywhere below (Jupyter's
  `.ipynb_checkpoints/`, macOS's `._x.jpg` and `__MACOSX/` from a zip);
- an image reached by several paths (symbolic or hard links) is read once, at its first path in that
  order, and a folder once (a link back to a folder above it ends there);
- every unreadable file is found in one pass and all are named in one error, after the rest is decoded.

Every image is read by its range into 8 bits, never clipped (`_eight_bit`), turned upright by its EXIF
orientation, converted to RGB, except when every image of the folder is single-channel (grey, grey with
alpha, 1-bit, 16-bit, 32-bit or float): then all keep one channel, so grey 8 x 8 digits give (N, 1, 8, 8).
It is then resized to image_size x image_size with PIL's bilinear filter, which widens with the reduction
and so antialiases a downscale; the aspect ratio is not kept (as torchvision's `Resize((s, s))`). A JPEG
larger than twice the side is decoded at 1/2, 1/4 or 1/8 of its size first (PIL's `draft`, the DCT's own
downscale, never below the side): a photo costs a fraction of its full decode in time and memory.

There is no separate test set: a seeded split stratified by class holds out `val_fraction` of the
images, whose accuracy (against the labels as given) is the run's test accuracy. The images are decoded,
on several threads (PIL releases the GIL), straight into one uint8 array whose rows hold the training
images, then the held-out ones, each part in the folder's order: both parts are views of it, and reading a
folder takes its pixels' bytes once, plus an image per thread. The normalisation is the training part's
per-channel mean and std of the pixel values scaled to 0..1, as data/digits.py.
"""
import math
import os
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from sklearn.model_selection import train_test_split
from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension
from tqdm.auto import tqdm

from code_used_upload.data.images import ImageData, available_memory
from code_used_upload.errors import UserError

SKIPPED_FOLDER = "__MACOSX"  # beside names starting with '.'
DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit integers (PNG, TIFF; "I" is how PIL widens them)
SINGLE_CHANNEL_MODES = ("1", "L", "LA", "F", *DEEP_MODES)
DEEP_TOP = 65535    # a deep image within 0..65535 is read by the 16-bit range: / 257
DARK_PEAK = 64      # 16-bit images whose brightest pixel reads below this use at most 14 of their bits
BACKGROUND = (255, 255, 255, 255)  # transparent pixels become white, as a page shows them
SHOWN_NAMES = 5     # class names a message lists before "..."
SHOWN_FAILURES = 10  # unreadable files a message names before the count of the rest
ROWS_PER_TASK = 64  # images one thread decodes between progress updates
HISTOGRAM_VALUES = 2 ** 20  # pixels per bincount, which counts from an int64 copy of what it is given


@dataclass(frozen=True)
class ImageFolderData:
    """The split images, the training rows' files (relative to the folder, '/'-separated) and the class
    names (class i is class_names[i]): what a per-image report of the training set needs. The noisy-label
    runs hold every data set so (experiments/noisy.py): CIFAR's and the digits' rows, which have no
    files, named by their index, their class names None where not known.

    An image folder also tells the run's log what it passed over and what may surprise (`notes`): the
    folders and images skipped for their names, the paths skipped as repeats, and the brightest pixel of
    its 16-bit images after scaling (None when it has none)."""
    data: ImageData
    train_paths: list
    class_names: list
    skipped_hidden: int = 0
    skipped_repeats: int = 0
    deep_peak: int = None

    @property
    def notes(self):
        """One line per thing the run's log should say about how the folder was read (none when nothing)."""
        notes = []
        skipped = [f"{count} {what}" for count, what in (
            (self.skipped_hidden, f"folders and images named '.*' or {SKIPPED_FOLDER}"),
            (self.skipped_repeats, "links to folders or images already read")) if count]
        if skipped:
            notes.append(f"image folder: skipped {' and '.join(skipped)}")
        if self.deep_peak is not None and self.deep_peak < DARK_PEAK:
            notes.append(f"image folder: the 16-bit images, scaled by the 16-bit range (0..65535 to 0..255), reach "
                         f"at most {self.deep_peak} of 255, so {self.deep_peak + 1} grey levels, as when a 12-bit "
                         f"camera's values are stored in 16 bits; to use 256 levels, rescale them to 0..65535 first")
        return notes


def load_image_folder(data_path, image_size=32, val_fraction=0.1, seed=0, num_class=None, threads=None,
                      progress=True):
    """Read `data_path` (one subfolder per class) into an ImageFolderData; `seed` draws the held-out split.

    `threads` decode at once (default: every core this process may use); `progress` shows a bar on a
    terminal. Every check that needs no decoding comes first, so a wrong folder or fraction fails at once,
    not after reading every image; an unreadable file fails after all are read, named with the others.
    """
    root = Path(data_path).expanduser()
    if not root.is_dir():
        raise UserError(f"{root} is not a folder: give the folder that holds one subfolder of images per class")
    if image_size < 1:
        raise UserError(f"image_size {image_size}: give the side in pixels, at least 1, that every image is resized to")
    found = _find_images(root)
    classes = found.classes
    if num_class is not None and num_class != len(classes):
        raise UserError(f"--num_class {num_class}: {root} has {len(classes)} class folders ({_listed(classes)}); "
                        f"leave --num_class out or give {len(classes)}")
    labels = np.array([label for _, label in found.samples], dtype=np.int64)
    _check_split(root, classes, labels, val_fraction)
    train_rows, test_rows = train_test_split(np.arange(len(labels)), test_size=val_fraction, stratify=labels,
                                             random_state=seed)
    order = np.concatenate([np.sort(train_rows), np.sort(test_rows)])  # the array's row r holds sample order[r]
    with warnings.catch_warnings():  # a large image (over 89 million pixels) is read, not warned about twice a line
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        images, modes, failures = _decode_all(found, order, image_size, threads or _usable_cores(), progress)
    if found.failures or failures:
        raise UserError(_unreadable(root, found.failures + failures))
    n_train = len(train_rows)
    train_images = images[:n_train]
    mean, std = _channel_moments(train_images)
    data = ImageData("imagefolder", train_images, labels[order[:n_train]], images[n_train:],
                     labels[order[n_train:]], len(classes), mean, std)
    train_paths = [Path(found.samples[row][0]).relative_to(root).as_posix() for row in order[:n_train]]
    deep_rows = [row for row, mode in enumerate(modes[order]) if mode in DEEP_MODES]
    deep_peak = max((int(images[row].max()) for row in deep_rows), default=None)
    return ImageFolderData(data, train_paths, classes, found.skipped_hidden, found.skipped_repeats, deep_peak)


def _skipped(name):
    """A name no class or image has: hidden ('.*': .ipynb_checkpoints, .DS_Store, AppleDouble ._x.jpg)
    or the folder macOS's zip adds."""
    return name.startswith(".") or name == SKIPPED_FOLDER


@dataclass
class _Found:
    """The walk's result: the class names, (path, label) in the folder's order, what it passed over, and
    the paths it could not follow (as (path, class, what) for the error)."""
    classes: list
    samples: list
    skipped_hidden: int
    skipped_repeats: int
    failures: list


def _find_images(root):
    """torchvision's classes and samples (`find_classes`, `make_dataset`: the subfolders sorted, the files
    below each, links followed, sorted by folder path then by name), without the skipped names and with
    each folder and each file once, by its identity on disk (device, inode) rather than by the path."""
    folders = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    classes = _check_classes(root, [name for name in folders if not _skipped(name)])
    found = _Found(classes, [], len(folders) - len(classes), 0, [])
    # the root and every class folder count as seen from the start: a link back up (`ant/up -> ..`) or across
    # (`ant/bees -> ../bee`) is not walked, so that no image is read under another class than its own folder's
    seen_folders, seen_files = {_identity(root), *(_identity(root / name) for name in classes)}, set()
    for label, name in enumerate(classes):
        for path in _class_files(root / name, name, found, seen_folders):
            try:
                status = os.stat(path)
            except OSError as error:  # a link to nothing, or to itself
                found.failures.append((path, name, f"is not a readable image ({_reason(error)})"))
                continue
            if not stat.S_ISREG(status.st_mode):  # a pipe would block the read, a device never end it
                found.failures.append((path, name, "is not a readable image (not a regular file)"))
                continue
            identity = status.st_dev, status.st_ino
            if identity in seen_files:
                found.skipped_repeats += 1
            else:
                seen_files.add(identity)
                found.samples.append((path, label))
    return found


def _class_files(class_folder, name, found, seen_folders):
    """The image files below one class folder, in torchvision's order, each folder walked once."""
    def failed(error):
        found.failures.append((error.filename, name, f"is not a readable folder ({_reason(error)})"))

    seen_folders.add(_identity(class_folder))
    listing = []
    for folder, subfolders, files in os.walk(class_folder, onerror=failed, followlinks=True):
        kept = []
        for subfolder in sorted(subfolders):
            if _skipped(subfolder):
                found.skipped_hidden += 1
                continue
            try:
                identity = _identity(os.path.join(folder, subfolder))
            except OSError as error:
                failed(error)
                continue
            if identity in seen_folders:
                found.skipped_repeats += 1
            else:
                seen_folders.add(identity)
                kept.append(subfolder)
        subfolders[:] = kept
        images = [file for file in files if has_file_allowed_extension(file, IMG_EXTENSIONS)]
        found.skipped_hidden += sum(_skipped(file) for file in images)
        listing.append((folder, sorted(file for file in images if not _skipped(file))))
    return [os.path.join(folder, file) for folder, files in sorted(listing) for file in files]


def _identity(path):
    """What a folder is on disk, whatever path leads there: (device, inode), links followed."""
    status = os.stat(path)
    return status.st_dev, status.st_ino


def _check_classes(root, classes):
    """The classes, at least two, or the error that says how to lay the folder out."""
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


def _in_parallel(task, count, description, threads, progress):
    """[task(i) for i in range(count)] on `threads` threads, in chunks of rows (a short queue), with a bar
    only on a terminal (tqdm's `disable=None`), never in a log or a test's captured stderr."""
    step = max(1, min(ROWS_PER_TASK, count // (4 * threads)))
    chunks = [range(start, min(start + step, count)) for start in range(0, count, step)]
    results = []
    pool = ThreadPoolExecutor(threads)
    try:
        with tqdm(total=count, desc=description, unit="image", leave=False, disable=None if progress else True) as bar:
            for done in pool.map(lambda rows: [task(row) for row in rows], chunks):
                results.extend(done)
                bar.update(len(done))
    finally:  # Ctrl-C: drop the queued chunks rather than decode the rest of the folder first
        pool.shutdown(cancel_futures=True)
    return results


def _usable_cores():
    """The cores this process may run on (all of them where the system cannot say, as on macOS)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _decode_all(found, order, side, threads, progress):
    """(N, C, side, side) uint8 with sample order[r] at row r, C = 1 when every image is single-channel,
    else 3; each sample's PIL mode; and the unreadable ones as (path, class, what).

    The channels must be known before the array is made: a first pass opens every file, which reads
    only its header. A grey image among colour ones is repeated over R, G and B, PIL's own L -> RGB."""
    paths = [path for path, _ in found.samples]
    modes = np.array(_in_parallel(lambda row: _mode(paths[row]), len(paths), "reading image headers", threads,
                                  progress), dtype=object)
    channels = 1 if all(mode in SINGLE_CHANNEL_MODES for mode in modes if isinstance(mode, str)) else 3
    needed, free = len(paths) * channels * side * side, available_memory()
    if needed > free:
        raise UserError(f"{len(paths)} images of {side} x {side} need {needed / 1e6:,.0f} MB of memory as uint8, and "
                        f"this machine has {free / 1e6:,.0f} MB free: give a smaller --image_size")
    images = np.zeros((len(paths), channels, side, side), dtype=np.uint8)
    position = np.empty(len(paths), dtype=np.int64)
    position[order] = np.arange(len(paths))

    def decode(row):
        if not isinstance(modes[row], str):  # the error of opening it
            return modes[row]
        try:
            with Image.open(paths[row]) as image:
                images[position[row]] = _pixels(image, channels, side)
        except Exception as error:  # an unreadable file fails in many ways inside PIL's plugins; all mean the same here
            return error

    errors = _in_parallel(decode, len(paths), "decoding images", threads, progress)
    failures = [(paths[row], found.classes[found.samples[row][1]], f"is not a readable image ({_reason(error)})")
                for row, error in enumerate(errors) if error is not None]
    return images, modes, failures


def _mode(path):
    """The PIL mode of an image, from its header (PIL decodes lazily), or the error that opening it gave."""
    try:
        with Image.open(path) as image:
            return image.mode
    except Exception as error:  # as in `decode`: every failure of a plugin is an unreadable file
        return error


def _pixels(image, channels, side):
    """One opened image as (channels, side, side) uint8: upright, 8-bit by its range, resized."""
    image.draft(None, (side, side))  # JPEG only: decode at the largest 1/2, 1/4 or 1/8 still >= side
    ImageOps.exif_transpose(image, in_place=True)
    image = _eight_bit(image).convert("L" if channels == 1 else "RGB")
    pixels = np.asarray(image.resize((side, side), Image.Resampling.BILINEAR))
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def _eight_bit(image):
    """An image in a mode PIL converts to L and RGB without loss of range: 16- and 32-bit integers and
    floats become L by `_scaled`; transparency is laid on white (PIL's convert would drop it and show what
    the encoder left under transparent pixels, often black, a cue that differs from tool to tool); the rest
    (1-bit, L, RGB, palette, CMYK, YCbCr, ...) is PIL's own conversion."""
    if image.mode in DEEP_MODES or image.mode == "F":
        return Image.fromarray(_scaled(np.asarray(image)), "L")
    if image.has_transparency_data:
        return Image.alpha_composite(Image.new("RGBA", image.size, BACKGROUND), image.convert("RGBA"))
    return image


def _scaled(values):
    """uint8 of an integer or float image by its range, never clipped: integers within 0..65535 by the
    16-bit range (v / 257, rounded: torchvision's and most viewers' reading of a 16-bit file, the same
    scale for every image so that brightness compares across them); floats within 0..1 by that range
    (x 255); anything else (negative or 32-bit integers, other floats) by its own min..max. Not-a-number
    and infinite pixels read 0."""
    full = 1.0 if values.dtype.kind == "f" else float(DEEP_TOP)
    values = values.astype(np.float32)  # 16-bit integers exactly; 32-bit ones to 24 bits, far below 8-bit's step
    finite = np.isfinite(values)
    low, high = (float(values[finite].min()), float(values[finite].max())) if finite.any() else (0.0, 0.0)
    if 0.0 <= low and high <= full:
        low, high = 0.0, full
    scale = 255.0 / (high - low) if high > low else 0.0
    return np.rint(np.where(finite, (values - low) * scale, 0.0)).astype(np.uint8)


def _channel_moments(images):
    """Per-channel mean and std (ddof 0) of `images` / 255, exact from each channel's histogram of the
    256 values, counted a block of rows at a time: no float or int64 copy of a set that may be large."""
    mean, std = [], []
    values = np.arange(256) / 255.0
    rows = max(1, HISTOGRAM_VALUES // images[0, 0].size)
    for channel in range(images.shape[1]):
        counts = sum(np.bincount(images[start:start + rows, channel].ravel(), minlength=256)
                     for start in range(0, len(images), rows))
        channel_mean = (counts * values).sum() / counts.sum()
        mean.append(float(channel_mean))
        std.append(float(np.sqrt((counts * (values - channel_mean) ** 2).sum() / counts.sum())))
    return tuple(mean), tuple(std)


def _reason(error):
    """An exception as one short line: its type and message; PIL's guard against decompression bombs said as
    what to do."""
    if isinstance(error, Image.DecompressionBombError):
        return (f"over {2 * Image.MAX_IMAGE_PIXELS:,} pixels, PIL's guard against decompression bombs: resize it "
                f"first (or raise PIL.Image.MAX_IMAGE_PIXELS in your own script if you trust it)")
    return " ".join(f"{type(error).__name__}: {error}".split())


def _unreadable(root, failures):
    """One line naming the first few unreadable files and how many there are."""
    shown = "; ".join(f"{path} (class {name}) {what}" for path, name, what in failures[:SHOWN_FAILURES])
    more = f"; and {len(failures) - SHOWN_FAILURES} more" if len(failures) > SHOWN_FAILURES else ""
    return (f"{len(failures)} unreadable {'file' if len(failures) == 1 else 'files'} under {root}, found before "
            f"training: {shown}{more}; replace or delete {'it' if len(failures) == 1 else 'them'}")
