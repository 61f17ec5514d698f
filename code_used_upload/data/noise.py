"""Label noise: synthetic, as the HMW authors inject it into CIFAR-10/100 (their dataloader_cifar.py and
Asymmetric_Noise.py, from UniCon/DivideMix), always seeded and without a loop over samples; and real, people's
labels from CIFAR-10N/100N (`cifar_n_labels`, the files in data/cifar_n.py).

- `sym`: int(r * N) samples, a random subset, get a label drawn uniformly over all C classes, the true
  one included, so about r (C - 1) / C of the labels end up wrong. (Theirs: `random.shuffle` of the
  indices, the first int(r * N) taken, `random.randint(0, C - 1)` for each.)
- `asym`, C = 10: int(r * N) random samples go through the map 2 -> 0 (bird -> airplane),
  4 -> 7 (deer -> horse), 9 -> 1 (truck -> automobile), 3 <-> 5 (cat <-> dog); the other classes map to
  themselves, so about r / 2 of a balanced set ends up wrong. Any 10-class set uses this map (e.g. a
  10-class digits set): it is a map of indices.
- `asym`, C divisible by 5 (CIFAR-100: C = 100): each sample independently with probability r moves to
  the next class in its block of 5 consecutive indices, c -> (c + 1) % 5 + 5 (c // 5). (Theirs: a
  transition matrix and one multinomial draw per sample.) CIFAR-100's fine labels are numbered
  alphabetically, so these blocks are not its 20 superclasses, whatever the authors' comment says.
- `asym` with any other C: refused, as no rule of the authors' covers it.
- `none`: no label changed (the rate is not used): a user's own images (data/imagefolder.py) trained on
  their labels as they are, whose wrong labels are unknown.

Where we depart: theirs draw from Python's `random` (sym, CIFAR-10 asym, seeded by their --seed) and
from an unseeded `np.random.RandomState()` (CIFAR-100 asym, so that noise differs on every run unless
their noise file is reused); ours draw from `np.random.default_rng(seed)`, so the same seed gives the
same labels everywhere, but not the authors' labels.
"""
import numpy as np

from code_used_upload.data.cifar_n import LABEL_KEYS, read_label_file
from code_used_upload.errors import UserError

MODES = ("sym", "asym", "none")
# CIFAR-10's asymmetric flips as an index map: bird -> airplane, deer -> horse, truck -> automobile, cat <-> dog
CIFAR10_FLIPS = np.array([0, 1, 0, 5, 7, 3, 6, 7, 8, 1])
BLOCK = 5  # CIFAR-100 asym: classes flip to the next one inside blocks of 5 consecutive indices


def noisy_labels(labels, num_classes, mode, rate, seed):
    """(noisy labels int64 (N,), is_noisy bool (N,)) for clean `labels` in 0..num_classes-1.

    is_noisy marks the labels that differ from the clean ones (a sym draw of the true class is clean).
    """
    labels = np.asarray(labels, dtype=np.int64)
    _check(labels, num_classes, mode, rate, seed)
    if mode == "none":
        return labels.copy(), np.zeros(len(labels), dtype=bool)
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    if mode == "sym":
        chosen = rng.permutation(len(labels))[: int(rate * len(labels))]
        noisy[chosen] = rng.integers(0, num_classes, len(chosen))
    elif num_classes == len(CIFAR10_FLIPS):
        chosen = rng.permutation(len(labels))[: int(rate * len(labels))]
        noisy[chosen] = CIFAR10_FLIPS[labels[chosen]]
    else:
        flip = rng.random(len(labels)) < rate
        noisy[flip] = (labels[flip] + 1) % BLOCK + BLOCK * (labels[flip] // BLOCK)
    return noisy, noisy != labels


def _check(labels, num_classes, mode, rate, seed):
    if mode not in MODES:
        raise UserError(f"noise mode {mode!r}: use one of {', '.join(MODES)}")
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"noise rate {rate!r}: use a fraction between 0 and 1 (e.g. 0.5 for 50% noise)")
    if mode == "asym" and num_classes != len(CIFAR10_FLIPS) and num_classes % BLOCK:
        raise UserError(f"asym noise is defined for 10 classes (CIFAR-10's flips) or a multiple of {BLOCK} "
                        f"(CIFAR-100's next class in blocks of {BLOCK}); this set has {num_classes}: use sym noise")
    if seed is None:
        raise UserError("label noise needs a seed (an integer), so that a run can be repeated")
    if labels.ndim != 1 or (len(labels) and (labels.min() < 0 or labels.max() >= num_classes)):
        raise UserError(f"labels must be one class index in 0..{num_classes - 1} per sample; "
                        f"got shape {labels.shape}, values {labels.min(initial=0)}..{labels.max(initial=0)}")


def cifar_n_labels(path, label_set, train_labels):
    """The people's labels (int64 (N,)) of `label_set` ("aggre", "worst", "random1", "random2", "random3" in
    CIFAR-10N's file, "noisy" in CIFAR-100N's) in the CIFAR-N label file at `path`, for the training images
    whose labels are `train_labels`.

    The file's `clean_label` must equal `train_labels`: CIFAR-N's labels belong to CIFAR's python-version
    training images in their order, and on other images, or in another order, they would land on the wrong
    ones. The run's noise mask is then `noisy != train_labels`: the people's mistakes.
    """
    content = read_label_file(path)
    clean = _label_array(content, "clean_label", path)
    sets = [name for name, key in LABEL_KEYS.items() if isinstance(content, dict) and key in content]
    if label_set not in sets:
        raise UserError(f"{path} has no label set {label_set!r}: it has {', '.join(sets) or 'none'}")
    noisy = _label_array(content, LABEL_KEYS[label_set], path)
    if len(noisy) != len(clean) or (len(clean) and not 0 <= noisy.min() <= noisy.max() <= clean.max()):
        raise UserError(f"{path}: its {LABEL_KEYS[label_set]} is not one class of clean_label's per image; "
                        f"delete it and run again to download it afresh")
    train_labels = np.asarray(train_labels)
    if train_labels.shape != clean.shape or not np.array_equal(train_labels, clean):
        found = (f"{len(train_labels)} training labels, the file {len(clean)}" if train_labels.shape != clean.shape
                 else f"{np.count_nonzero(train_labels != clean)} of the {len(clean)} training labels differ")
        raise UserError(f"{path}: its clean_label is not these training labels ({found}): the file's labels are for "
                        f"CIFAR's python-version training images in their own order, and these are another data "
                        f"set's or in another order (or the file is the other CIFAR's)")
    return noisy


def _label_array(content, key, path):
    """content[key] as int64, where it is a 1-D integer array; a UserError naming the file otherwise."""
    labels = content.get(key) if isinstance(content, dict) else None
    if not (isinstance(labels, np.ndarray) and labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)):
        raise UserError(f"{path} is not a CIFAR-N label file: it needs {key!r}, one integer label per image; "
                        f"delete it and run again to download it afresh")
    return labels.astype(np.int64)
