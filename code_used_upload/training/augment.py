"""Training views on the device, for a whole batch at once from the resident uint8 images.

- `crop_flip`: CIFAR's, the authors' RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(),
  Normalize(mean, std). At other sides the same view scaled: a padding of an eighth of the side (4 at 32,
  28 at 224), the crop the image's own side.
- `shift`: small images' (the 8 x 8 digits): each sample moved by a random integer offset in {-1, 0, 1}
  along each axis, the pixels shifted in filled with zeros (the digits' background). A crop with one
  pixel of padding, without the flip (a flipped digit is another symbol).
- None: normalised only.

torchvision pads the PIL image with zeros to 40 x 40 and cuts a 32 x 32 window at a top and a left
offset each drawn from 0..8, then flips left-right with probability 0.5; here every sample of the
batch draws its own offsets and flip from one `torch.Generator` on the images' device (the same seed
gives the same batches), and one gather cuts all the crops. No PIL, no Python loop over images.
"""
import torch
import torch.nn.functional as F

PADDING = 4  # crop_flip's padding at CIFAR's 32 x 32: an eighth of the side
SHIFT = 1  # `shift`: the largest offset along each axis, in pixels
VIEWS = (None, "crop_flip", "shift")


def view(name, images, rows, mean, std, generator):
    """The batch images[rows] under the view `name` (one of VIEWS), normalised: float32 (B, C, H, W)."""
    if name == "crop_flip":
        return augment(images, rows, mean, std, generator)
    if name == "shift":
        return normalise(shift(images, rows, generator), mean, std)
    return normalise(images.index_select(0, rows), mean, std)


def shift(images, rows, generator):
    """images[rows] (B, C, H, W) uint8, each moved by its own offsets in {-SHIFT..SHIFT} along y and x,
    zero-filled: a window of the zero-padded image, cut by one gather for the whole batch."""
    offsets = torch.randint(0, 2 * SHIFT + 1, (2, len(rows)), device=images.device, generator=generator)
    height, width = images.shape[-2:]
    ys = offsets[0][:, None] + torch.arange(height, device=images.device)
    xs = offsets[1][:, None] + torch.arange(width, device=images.device)
    return windows(F.pad(images.index_select(0, rows), (SHIFT,) * 4), ys, xs)


def windows(padded, ys, xs):
    """Each image of `padded` (B, C, H', W') read at its own rows ys (B, H) and columns xs (B, W): one gather."""
    batch = torch.arange(len(padded), device=padded.device)[:, None, None, None]
    channels = torch.arange(padded.shape[1], device=padded.device)[None, :, None, None]
    return padded[batch, channels, ys[:, None, :, None], xs[:, None, None, :]]


def padding_for(side):
    """crop_flip's zero padding for images of `side` pixels: CIFAR's 4 at 32, an eighth of the side, at least 1."""
    return max(1, side * PADDING // 32)


def augment(images, rows, mean, std, generator):
    """images (N, C, S, S) uint8 on the device, rows (B,) -> (B, C, S, S) float32 augmented batch."""
    tops, lefts, flips = draw_crops_and_flips(len(rows), generator, images.device, padding_for(images.shape[-1]))
    return normalise(crop_and_flip(images, rows, tops, lefts, flips), mean, std)


def draw_crops_and_flips(batch_size, generator, device, padding=PADDING):
    """Per sample: crop top and left offsets, uniform over 0..2 * padding, and a flip with probability 0.5."""
    offsets = torch.randint(0, 2 * padding + 1, (2, batch_size), device=device, generator=generator)
    flips = torch.rand(batch_size, device=device, generator=generator) < 0.5
    return offsets[0], offsets[1], flips


def crop_and_flip(images, rows, tops, lefts, flips):
    """The S x S windows at (tops, lefts) of the zero-padded images[rows] (padding_for(S)), flipped left-right
    where `flips`: (B, C, S, S) uint8, as torchvision's pad-crop-flip of each image."""
    side = images.shape[-1]
    padded = F.pad(images.index_select(0, rows), (padding_for(side),) * 4)  # zeros, as RandomCrop's default fill
    steps = torch.arange(side, device=images.device)
    ys = tops[:, None] + steps  # (B, S)
    xs = lefts[:, None] + torch.where(flips[:, None], steps.flip(0), steps)  # a flip reads the columns backwards
    return windows(padded, ys, xs)


def normalise(images, mean, std, out=None):
    """uint8 (B, 3, H, W) -> float32 (x / 255 - mean) / std per channel: ToTensor then Normalize, the same
    operations in the same order, so the same numbers. The test set's only transform. `out`: a float32
    tensor of the images' shape to write into, instead of a new one."""
    mean = torch.as_tensor(mean, dtype=torch.float32, device=images.device)[:, None, None]
    std = torch.as_tensor(std, dtype=torch.float32, device=images.device)[:, None, None]
    floats = torch.empty(images.shape, dtype=torch.float32, device=images.device) if out is None else out
    return floats.copy_(images).div_(255).sub_(mean).div_(std)
