"""UniCon's strong view on the device: AutoAugment's CIFAR10Policy as the HMW authors' `autoaugment.py`
applies it to the cropped, flipped 32 x 32 image, for a whole batch at once, every sample with its own draws.

Each sample draws one of the 25 sub-policies `(p1, op1, m1, p2, op2, m2)` uniformly, applies op1 at
magnitude index m1 with probability p1, then op2 at m2 with probability p2, each signed operation with its
own random sign (README of the UniCon reference, section 6). Every draw comes from one `torch.Generator`
on the images' device, so the same seed gives the same batch. The rows that apply the same operation at the
same magnitude (and sign) are transformed together by one call of torchvision's functional ops on uint8
tensors: a Python loop over the groups (at most 50 a stage), none over images, no PIL.

torchvision's `AutoAugment(AutoAugmentPolicy.CIFAR10)` does not do this job: one call draws one sub-policy
and one set of coins and signs from the global RNG for everything it is given (a batch would share them),
and its magnitudes are not the authors': rotate gets a random sign, translations are truncated to whole
pixels (int(14.5) = 14 where PIL's nearest reads 15 pixels away), solarize thresholds are 255 (1 - m/9)
instead of 256 (1 - m/9), and shears are nearest-neighbour.

Where this differs from PIL computing the README's definitions, measured by tests/test_strong_augment.py on
48 32 x 32 crops of scikit-learn's two photographs and their grey versions, at every magnitude index and both
signs; the worst setting's mean |difference| in levels, share of values more than 4 levels apart, largest:
- shearX, shearY: 2.21, 10.8%, 131. torchvision's tensor affine has no bicubic, so bilinear here where PIL's
  transform uses the a = -1 cubic truncated to an integer (sharper, and half a level darker on average);
  the sheared-out border is blended with the grey 128 over one pixel where PIL cuts it sharply.
- rotate: 0.007, 0.03%, 99. Nearest both; at 20 degrees one output position (row 0, column 23) reads its
  input 0.0001 pixel before a row boundary, which PIL's fixed-point affine rounds across and float32 does not.
- color: 0.43, 0, 1. torchvision floors the grey, PIL rounds it.
- contrast: 0.54, 0, 1. torchvision blends with the unrounded mean of the floored grey, PIL with the rounded
  mean of its rounded grey.
- sharpness: 0.001, 0, 1. The smoothed image rounded from float32 by conv2d, by PIL's integer filter.
- autocontrast: 0.07, 0, 1. (x - lo) 255 / (hi - lo) in float32 against PIL's x s - lo s in double, both
  truncated.
- translateX, translateY: identical. PIL's nearest reads the input at floor(x + 0.5 + c), grid_sample's at
  round(x + c), the same pixel since c is never a half-integer.
- brightness (on all 256 values and every factor), posterize, solarize, equalize, invert: identical.
"""
import math

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

FILL = 128  # the authors' fillcolor (128, 128, 128): the grey outside a sheared, translated or rotated image

CIFAR10_POLICY = (
    (0.1, "invert", 7, 0.2, "contrast", 6),
    (0.7, "rotate", 2, 0.3, "translateX", 9),
    (0.8, "sharpness", 1, 0.9, "sharpness", 3),
    (0.5, "shearY", 8, 0.7, "translateY", 9),
    (0.5, "autocontrast", 8, 0.9, "equalize", 2),
    (0.2, "shearY", 7, 0.3, "posterize", 7),
    (0.4, "color", 3, 0.6, "brightness", 7),
    (0.3, "sharpness", 9, 0.7, "brightness", 9),
    (0.6, "equalize", 5, 0.5, "equalize", 1),
    (0.6, "contrast", 7, 0.6, "sharpness", 5),
    (0.7, "color", 7, 0.5, "translateX", 8),
    (0.3, "equalize", 7, 0.4, "autocontrast", 8),
    (0.4, "translateY", 3, 0.2, "sharpness", 6),
    (0.9, "brightness", 6, 0.2, "color", 8),
    (0.5, "solarize", 2, 0.0, "invert", 3),
    (0.2, "equalize", 0, 0.6, "autocontrast", 0),
    (0.2, "equalize", 8, 0.6, "equalize", 4),
    (0.9, "color", 9, 0.6, "equalize", 6),
    (0.8, "autocontrast", 4, 0.2, "solarize", 8),
    (0.1, "brightness", 3, 0.7, "color", 0),
    (0.4, "solarize", 5, 0.9, "autocontrast", 3),
    (0.9, "translateY", 9, 0.7, "translateY", 9),
    (0.9, "autocontrast", 2, 0.8, "solarize", 3),
    (0.8, "equalize", 8, 0.1, "invert", 3),
    (0.7, "translateY", 9, 0.9, "autocontrast", 1),
)


def _shear(images, magnitude, horizontal):
    """PIL's affine (1, M, 0, 0, 1, 0) (horizontal) or (1, 0, 0, M, 1, 0): the output pixel (x, y) reads the
    input at (x + M y, y) or (x, y + M x), a shear about the top-left corner. torchvision's inverse shear
    matrix is [[1, tan(sx)], [0, 1]] (or its transpose with sy), so the angle is atan(M) about center (0, 0)."""
    angle = math.degrees(math.atan(magnitude))
    return TF.affine(images, angle=0.0, translate=[0.0, 0.0], scale=1.0,
                     shear=[angle, 0.0] if horizontal else [0.0, angle],
                     interpolation=InterpolationMode.BILINEAR, fill=FILL, center=[0.0, 0.0])


def _translate(images, shift, horizontal):
    """PIL's affine (1, 0, c, 0, 1, 0) (horizontal) or (1, 0, 0, 0, 1, c): the output pixel reads the input c
    pixels further right (down), so the image moves by -c."""
    return TF.affine(images, angle=0.0, translate=[-shift, 0.0] if horizontal else [0.0, -shift], scale=1.0,
                     shear=[0.0, 0.0], interpolation=InterpolationMode.NEAREST, fill=FILL)


def _solarize(images, threshold):
    """Invert the values >= threshold; the threshold 256 of index 0 inverts nothing (torchvision refuses it)."""
    return images.clone() if threshold > 255 else TF.solarize(images, threshold)


def _shear_magnitude(m):
    return 0.3 * m / 9


def _translate_fraction(m):
    return 150 / 331 * m / 9


def _enhance_factor(m, sign):
    return 1 + 0.9 * m / 9 * sign


# name -> f(images, m, sign): the operation at magnitude index m (0..9) with the sign +1 or -1 (unused by
# the operations without one).
_OPERATIONS = {
    "shearX": lambda x, m, s: _shear(x, _shear_magnitude(m) * s, horizontal=True),
    "shearY": lambda x, m, s: _shear(x, _shear_magnitude(m) * s, horizontal=False),
    "translateX": lambda x, m, s: _translate(x, _translate_fraction(m) * x.shape[-1] * s, horizontal=True),
    "translateY": lambda x, m, s: _translate(x, _translate_fraction(m) * x.shape[-2] * s, horizontal=False),
    "rotate": lambda x, m, s: TF.rotate(x, 30 * m / 9, interpolation=InterpolationMode.NEAREST, fill=FILL),
    "color": lambda x, m, s: TF.adjust_saturation(x, _enhance_factor(m, s)),
    "contrast": lambda x, m, s: TF.adjust_contrast(x, _enhance_factor(m, s)),
    "sharpness": lambda x, m, s: TF.adjust_sharpness(x, _enhance_factor(m, s)),
    "brightness": lambda x, m, s: TF.adjust_brightness(x, _enhance_factor(m, s)),
    "posterize": lambda x, m, s: TF.posterize(x, round(8 - 4 * m / 9)),
    "solarize": lambda x, m, s: _solarize(x, 256 - 256 * m / 9),
    "autocontrast": lambda x, m, s: TF.autocontrast(x),
    "equalize": lambda x, m, s: TF.equalize(x),
    "invert": lambda x, m, s: TF.invert(x),
}
OPERATIONS = tuple(_OPERATIONS)
SIGNED = ("shearX", "shearY", "translateX", "translateY", "color", "contrast", "sharpness", "brightness")


def apply_operation(images, name, magnitude_index, signs):
    """images (B, C, H, W) uint8, one operation at magnitude index 0..9, signs (B,) of +1/-1 (ignored by the
    operations without one) -> (B, C, H, W) uint8. A signed operation transforms the rows of each sign in
    one call."""
    operation = _OPERATIONS[name]
    if name not in SIGNED:
        return operation(images, magnitude_index, 1)
    out = torch.empty_like(images)
    for sign in (1, -1):
        rows = (signs == sign).nonzero().squeeze(1)
        if len(rows):
            out[rows] = operation(images[rows], magnitude_index, sign)
    return out


def _policy_tables(device):
    """(25, 2) apply-probabilities, operation codes (indices into OPERATIONS) and magnitude indices, and
    (len(OPERATIONS),) whether each operation takes a sign."""
    probabilities = torch.tensor([[p1, p2] for p1, _, _, p2, _, _ in CIFAR10_POLICY], device=device)
    codes = torch.tensor([[OPERATIONS.index(o1), OPERATIONS.index(o2)] for _, o1, _, _, o2, _ in CIFAR10_POLICY],
                         device=device)
    magnitudes = torch.tensor([[m1, m2] for _, _, m1, _, _, m2 in CIFAR10_POLICY], device=device)
    signed = torch.tensor([name in SIGNED for name in OPERATIONS], device=device)
    return probabilities, codes, magnitudes, signed


def strong_augment(images, generator):
    """images (B, C, H, W) uint8 (cropped and flipped) -> the same shape and dtype, CIFAR10Policy applied to
    every sample with its own sub-policy, apply-coins and signs drawn from `generator` (on the images' device).

    Per stage (op1, then op2 on op1's result) the applying rows are sorted by the key
    (operation, magnitude index, sign) and cut into groups, one call each; the sign of an operation without
    one is set to +1 so that it makes no extra group. Two host synchronisations per stage, none per group."""
    device = images.device
    batch_size = len(images)
    policies = torch.randint(0, len(CIFAR10_POLICY), (batch_size,), device=device, generator=generator)
    coins = torch.rand(batch_size, 2, device=device, generator=generator)
    signs = torch.randint(0, 2, (batch_size, 2), device=device, generator=generator) * 2 - 1
    probabilities, codes, magnitudes, signed = _policy_tables(device)
    codes, magnitudes = codes[policies], magnitudes[policies]
    positive = (signs > 0) | ~signed[codes]
    keys = (codes * 10 + magnitudes) * 2 + positive
    keys = torch.where(coins < probabilities[policies], keys, -1)  # -1: the coin said no
    out = images.clone()
    for stage in range(2):
        values, counts = torch.unique(keys[:, stage], return_counts=True)
        order = torch.argsort(keys[:, stage], stable=True)
        for key, rows in zip(values.tolist(), order.split(counts.tolist())):
            if key >= 0:
                code, magnitude_index = divmod(key // 2, 10)
                out[rows] = _OPERATIONS[OPERATIONS[code]](out[rows], magnitude_index, 1 if key % 2 else -1)
    return out
