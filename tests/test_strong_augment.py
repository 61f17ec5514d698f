"""UniCon's strong view (training/strong_augment.py) against PIL computing the README's definitions (section 6
of shared/reference/unicon/README.md) on real photographs, and the per-sample draws of `strong_augment`."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps
from sklearn.datasets import load_sample_images

from code_used_upload.training.strong_augment import (CIFAR10_POLICY, OPERATIONS, SIGNED, apply_operation,
                                                      strong_augment)

README = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "unicon" / "README.md"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def photos():
    """scikit-learn's two bundled photographs (china.jpg, flower.jpg), 427 x 640 RGB uint8."""
    return load_sample_images().images


def cut(photos, height, width):
    """24 crops of each photograph on a fixed 6 x 4 grid: sky, roof, trees, petals, leaves."""
    return np.stack([photo[20 + 64 * i:20 + 64 * i + height, 30 + 140 * j:30 + 140 * j + width]
                     for photo in photos for i in range(6) for j in range(4)])


def pil_operation(img, name, m, s):
    """The README's definition of an operation at magnitude index m and sign s, by PIL, as the authors'
    SubPolicy applies it (fill (128, 128, 128), or 128 on a grey image)."""
    fill = (128,) * len(img.getbands())
    width, height = img.size
    if name == "shearX":
        return img.transform(img.size, Image.AFFINE, (1, 0.3 * m / 9 * s, 0, 0, 1, 0), Image.BICUBIC, fillcolor=fill)
    if name == "shearY":
        return img.transform(img.size, Image.AFFINE, (1, 0, 0, 0.3 * m / 9 * s, 1, 0), Image.BICUBIC, fillcolor=fill)
    if name == "translateX":
        return img.transform(img.size, Image.AFFINE, (1, 0, 150 / 331 * m / 9 * width * s, 0, 1, 0), fillcolor=fill)
    if name == "translateY":
        return img.transform(img.size, Image.AFFINE, (1, 0, 0, 0, 1, 150 / 331 * m / 9 * height * s), fillcolor=fill)
    if name == "rotate":  # the authors' rotate_with_fill
        rotated = img.convert("RGBA").rotate(30 * m / 9)
        return Image.composite(rotated, Image.new("RGBA", rotated.size, (128,) * 4), rotated).convert(img.mode)
    factor = 1 + 0.9 * m / 9 * s
    enhancers = {"color": ImageEnhance.Color, "contrast": ImageEnhance.Contrast,
                 "sharpness": ImageEnhance.Sharpness, "brightness": ImageEnhance.Brightness}
    if name in enhancers:
        return enhancers[name](img).enhance(factor)
    if name == "posterize":
        return ImageOps.posterize(img, round(8 - 4 * m / 9))
    if name == "solarize":
        return ImageOps.solarize(img, 256 - 256 * m / 9)
    return {"autocontrast": ImageOps.autocontrast, "equalize": ImageOps.equalize, "invert": ImageOps.invert}[name](img)


def compare_with_pil(crops, name):
    """Differences |ours - PIL| in levels, (n_settings, N, H, W, C) int, over every magnitude index 0..9 and
    both signs (one sign for the operations without one). crops: (N, H, W, C) uint8, C = 3 or 1."""
    images = torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()
    differences = []
    for m in range(10):
        for s in (1, -1) if name in SIGNED else (1,):
            # a (H, W, 1) crop becomes an "L" image, whose arrays are (H, W)
            reference = np.stack([np.asarray(pil_operation(Image.fromarray(c.squeeze(-1) if c.shape[-1] == 1 else c),
                                                           name, m, s)) for c in crops]).reshape(crops.shape)
            ours = apply_operation(images, name, m, torch.full((len(crops),), s))
            assert ours.dtype == torch.uint8 and ours.shape == images.shape
            differences.append(np.abs(ours.permute(0, 2, 3, 1).numpy().astype(int) - reference.astype(int)))
    return np.stack(differences)


# name: (bound on the mean |difference| in levels, on the fraction of values more than 4 levels apart, on the
# largest difference (None: none)), each the worst over magnitudes and signs, RGB and grey, on the 48 crops.
BOUNDS = {
    # measured 2.21 / 0.108 (index 6, sign -1): bilinear here, PIL's transform bicubic is the a = -1 cubic
    # truncated to an integer (a sharper kernel, 0.5 level darker on average), and the sheared-out border is
    # blended with the grey 128 over one pixel where PIL cuts it; ~2 levels at every index from 1 on
    "shearX": (3.0, 0.15, None),
    "shearY": (3.0, 0.15, None),  # measured 2.20 / 0.105: as shearX
    # measured 0: PIL's nearest reads the input at floor(x + 0.5 + c), grid_sample's at round(x + c)
    "translateX": (0, 0, 0),
    "translateY": (0, 0, 0),  # measured 0: as translateX
    # measured 0.007 / 0.0003, only at index 6 (20 degrees): one output position (row 0, column 23) reads its
    # input 0.0001 pixel before a row boundary, which PIL's fixed-point affine rounds across; others identical
    "rotate": (0.05, 0.002, None),
    # measured 0.433 / 0 / max 1 (index 9, sign -1): torchvision floors the grey (PIL rounds) and blends in
    # float32; never more than one level
    "color": (0.6, 0, 1),
    # measured 0.539 / 0 / max 1 (index 9, sign -1): torchvision blends with the unrounded mean of the floored
    # grey, PIL with the rounded mean of the rounded grey; one level at most
    "contrast": (0.7, 0, 1),
    # measured 0.001 / 0 / max 1: the smoothed image is rounded in float32 by torchvision, by PIL's integer filter
    "sharpness": (0.01, 0, 1),
    "brightness": (0, 0, 0),  # measured 0 on all 256 values and every factor: the same truncated product
    "posterize": (0, 0, 0),
    "solarize": (0, 0, 0),
    # measured 0.070 / 0 / max 1: (x - lo) * 255 / (hi - lo) in float32 against PIL's x * s - lo * s in double,
    # both truncated: one level on values that land on an integer
    "autocontrast": (0.15, 0, 1),
    "equalize": (0, 0, 0),  # measured 0: torchvision follows PIL's lookup table
    "invert": (0, 0, 0),
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_each_operation_is_the_readmes_as_pil_computes_it(photos, name):
    """Every magnitude index 0..9 and both signs, on 48 RGB crops and their grey versions."""
    rgb = cut(photos, 32, 32)
    grey = np.stack([np.asarray(Image.fromarray(c).convert("L")) for c in rgb])[..., None]
    mean_bound, far_bound, max_bound = BOUNDS[name]
    for crops in (rgb, grey):
        differences = compare_with_pil(crops, name)
        worst_mean = differences.mean(axis=(1, 2, 3, 4)).max()
        worst_far = (differences > 4).mean(axis=(1, 2, 3, 4)).max()
        assert worst_mean <= mean_bound and worst_far <= far_bound, (crops.shape, worst_mean, worst_far)
        if max_bound is not None:
            assert differences.max() <= max_bound, crops.shape


def test_translation_takes_the_width_and_the_height_from_the_tensor(photos):
    """On 24 x 40 crops translateX moves by a fraction of 40 pixels and translateY of 24, as PIL's img.size."""
    crops = cut(photos, 24, 40)
    for name in ("translateX", "translateY"):
        assert compare_with_pil(crops, name).max() == 0, name


def readme_policy():
    """The 25 rows of the README's sub-policy table (two rows to a line, by number)."""
    if not README.is_file():
        pytest.fail(f"{README} is needed by this test: place the project's shared data beside the repository.")
    rows = {}
    for line in README.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 15 and cells[0].isdigit():
            for number, p1, op1, m1, p2, op2, m2 in (cells[0:7], cells[8:15]):
                if number:
                    rows[int(number)] = (float(p1), op1, int(m1), float(p2), op2, int(m2))
    return tuple(rows[i] for i in range(len(rows)))


def test_policy_table_is_the_readmes():
    assert len(CIFAR10_POLICY) == 25
    assert CIFAR10_POLICY[0] == (0.1, "invert", 7, 0.2, "contrast", 6)
    assert CIFAR10_POLICY[3] == (0.5, "shearY", 8, 0.7, "translateY", 9)
    assert CIFAR10_POLICY[13] == (0.9, "brightness", 6, 0.2, "color", 8)
    assert CIFAR10_POLICY[14] == (0.5, "solarize", 2, 0.0, "invert", 3)
    assert CIFAR10_POLICY[21] == (0.9, "translateY", 9, 0.7, "translateY", 9)
    assert CIFAR10_POLICY[24] == (0.7, "translateY", 9, 0.9, "autocontrast", 1)
    assert CIFAR10_POLICY == readme_policy()


def test_the_seed_fixes_the_batch(photos):
    images = torch.from_numpy(cut(photos, 32, 32)).permute(0, 3, 1, 2).contiguous()
    kept = images.clone()
    first = strong_augment(images, torch.Generator().manual_seed(3))
    assert torch.equal(images, kept)  # the input is left alone
    assert first.dtype == torch.uint8 and first.shape == images.shape
    assert torch.equal(first, strong_augment(images, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, strong_augment(images, torch.Generator().manual_seed(4)))


def outcome_probabilities(image):
    """{output bytes: probability} over every sub-policy, apply-coin and sign for one (C, H, W) image:
    op1 at m1 with probability p1, then op2 at m2 on its result with probability p2, each sign 1/2."""
    outcomes = {}
    for p1, op1, m1, p2, op2, m2 in CIFAR10_POLICY:
        for applied1, s1, applied2, s2 in np.ndindex(2, 2, 2, 2):
            out = image[None]
            if applied1:
                out = apply_operation(out, op1, m1, torch.tensor([1 - 2 * s1]))
            if applied2:
                out = apply_operation(out, op2, m2, torch.tensor([1 - 2 * s2]))
            probability = (p1 if applied1 else 1 - p1) * (p2 if applied2 else 1 - p2) / 4 / len(CIFAR10_POLICY)
            key = out.numpy().tobytes()
            outcomes[key] = outcomes.get(key, 0) + probability
    return outcomes


@pytest.mark.parametrize("channels", [3, 1])
def test_each_sample_draws_its_own_sub_policy(photos, channels):
    """512 copies of one crop: every output is an outcome of some sub-policy applied op1 then op2 (the same
    bytes as apply_operation's), many differ, and the share left unchanged is its probability within 4 sd."""
    crop = torch.from_numpy(cut(photos, 32, 32)[30]).permute(2, 0, 1)[:channels].contiguous()
    outcomes = outcome_probabilities(crop)
    batch = strong_augment(crop.expand(512, -1, -1, -1).contiguous(), torch.Generator().manual_seed(0))
    assert batch.dtype == torch.uint8 and batch.shape == (512, channels, 32, 32)
    keys = [row.numpy().tobytes() for row in batch]
    assert all(key in outcomes for key in keys)
    assert len(set(keys)) > 50
    p = outcomes[crop[None].numpy().tobytes()]
    unchanged = np.mean([key == crop[None].numpy().tobytes() for key in keys])
    assert abs(unchanged - p) <= 4 * np.sqrt(p * (1 - p) / 512), (unchanged, p)


def test_shape_and_dtype_are_kept_for_any_size():
    generator = torch.Generator().manual_seed(0)
    for shape in [(1, 3, 32, 32), (9, 1, 32, 32), (6, 3, 24, 40)]:
        images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
        out = strong_augment(images, generator)
        assert out.dtype == torch.uint8 and out.shape == shape
