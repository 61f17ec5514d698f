"""UniCon's weak and strong training views on the device, for CIFAR and for the 8 x 8 digits.

UniCon trains on four views of every sample: two weak ones (co-guessing, label refinement) and two
strong ones (the contrastive loss and MixMatch), each drawn independently.
- `crop_flip` (CIFAR, weak): the authors' RandomCrop(32, padding=4), RandomHorizontalFlip (training/augment.py;
  at other sides scaled, for photographs).
- `cifar10_policy` (CIFAR, strong): the same crop and flip, then AutoAugment's CIFAR10Policy
  (training/strong_augment.py), as the authors' strong transform.
- `shift` (digits, weak): each sample moved by an offset in {-1, 0, 1} along each axis, zero-filled
  (training/augment.py).
- `shift_scale` (digits, strong): the weak shift, then every sample's intensities multiplied by its own
  factor drawn uniformly from [0.5, 1.5] and rounded (a faint or a bold stroke; 0..16 becomes at most
  0..24, uint8 still). Neither a flip nor a rotation by much (a flipped 2 is no digit, a turned 6 a 9),
  and CIFAR10Policy's colour operations mean little on 17 grey levels. Measured with the digits MLP
  (sym 0.6, 100 epochs, warm-up 10, batches 64 / 128, last-epoch test accuracy uc / hmw+uc, mean of
  seeds 0-2): this view 0.881 / 0.891; the weak view again 0.890 / 0.894; a 3 x 3 or a 2 x 2 erased patch
  after the shift 0.878 / 0.888 and 0.877 / 0.888. A shift of up to 2 pixels (a quarter of the frame),
  alone, with the patch or with the scaling, fell to 0.29-0.52 in 30-epoch runs where the one-pixel
  views gave 0.80-0.83 (uc, seed 0; without noise 0.71-0.74 against 0.87-0.89): the MLP is not
  translation-invariant and the test digits are centred. Within the seeds'
  spread (0.02) the milder strong views neither help nor hurt the MLP; this one differs from the weak
  view in kind and costs nothing.

Every draw comes from the run's `torch.Generator` on the images' device; one gather or mask per batch,
no Python loop over images.
"""
import torch

from code_used_upload.training.augment import crop_and_flip, draw_crops_and_flips, normalise, padding_for, shift, view
from code_used_upload.training.strong_augment import strong_augment

UNICON_VIEWS = ("crop_flip", "cifar10_policy", "shift", "shift_scale")
SCALE = 0.5        # shift_scale: the intensity factor is drawn from [1 - SCALE, 1 + SCALE]


def unicon_view(name, images, rows, mean, std, generator):
    """The batch images[rows] (uint8, resident) under the view `name` (one of UNICON_VIEWS), normalised:
    float32 (B, C, H, W)."""
    if name in ("crop_flip", "shift"):
        return view(name, images, rows, mean, std, generator)
    if name == "cifar10_policy":
        tops, lefts, flips = draw_crops_and_flips(len(rows), generator, images.device, padding_for(images.shape[-1]))
        return normalise(strong_augment(crop_and_flip(images, rows, tops, lefts, flips), generator), mean, std)
    if name == "shift_scale":
        return normalise(shift_scale(images, rows, generator), mean, std)
    raise ValueError(f"UniCon view {name!r}: use one of {', '.join(UNICON_VIEWS)}")


def shift_scale(images, rows, generator):
    """images[rows] (B, C, H, W) uint8, each shifted by its own offsets in {-1, 0, 1} (the weak `shift`) and
    its values multiplied by its own factor in [1 - SCALE, 1 + SCALE], rounded, kept within uint8."""
    shifted = shift(images, rows, generator)
    factors = 1 + SCALE * (2 * torch.rand(len(rows), 1, 1, 1, device=images.device, generator=generator) - 1)
    return (shifted.float() * factors).round_().clamp_(0, 255).to(torch.uint8)
