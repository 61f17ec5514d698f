"""Whether a training step fits the device's memory, asked before a run trains rather than learnt from a crash.

A step holds what the forward pass saves for the backward pass: for image networks almost all of it
activations, growing with the images in the step and their pixels (torchvision's ResNet-18: 33 MB an
image at 224 x 224; the CIFAR PreAct-ResNet18, which does not downsample before its first block, 373 MB),
beside the weights, their gradients and the optimiser's momentum. The saved tensors are counted by a
forward pass on PyTorch's `meta` device (shapes without memory, so the count costs no memory and a
fraction of a second) through `torch.autograd.graph.saved_tensors_hooks`, for two batch sizes: the
difference is an image's share, the rest the weights the backward pass reads. The estimate is a lower
bound (the backward pass's own buffers, the allocator's rounding and cuDNN's workspaces come on top):
a run it refuses would not have fitted.
"""
import torch

from code_used_upload.data.images import available_memory
from code_used_upload.errors import UserError

GB = 1e9


def step_bytes(build, image_shape):
    """(bytes a training step holds per image, bytes it holds whatever the batch) for the network `build()`
    makes on images of `image_shape` (C, H, W): per image what the forward pass saves for the backward pass;
    besides, the weights it saves, and the weights, their gradients and the optimiser's momentum."""
    def saved(batch):
        total = 0

        def count(tensor):
            nonlocal total
            total += tensor.numel() * tensor.element_size()
            return tensor

        with torch.device("meta"):
            network = build().train()
            images = torch.empty(batch, *image_shape)
        with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
            network(images)
        return total
    two, four = saved(2), saved(4)  # two images at least: BatchNorm refuses one image of a 1 x 1 map
    per_image = (four - two) / 2
    with torch.device("meta"):
        parameters = sum(p.numel() * p.element_size() for p in build().parameters())
    return per_image, two - 2 * per_image + 3 * parameters


def available_bytes(device):
    """Memory free for a run on `device`: CUDA's free memory, or the machine's (data/images.py available_memory)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_memory()


def check_step_fits(bytes_of_step, image_side, images_per_step, batch_size, device, resident_bytes, what):
    """Refuse (UserError, one line) a run whose training step cannot fit `device`: `bytes_of_step` is what
    `step_bytes` says of its network on images of `image_side` pixels, a step takes `images_per_step` images
    through it for a batch of `batch_size`, and `resident_bytes` will already lie on the device (the images,
    on CUDA). `what` names the run."""
    per_image, fixed = bytes_of_step
    needed = per_image * images_per_step + fixed
    free = available_bytes(device) - resident_bytes
    if needed <= free:
        return
    per_batch_image = per_image * images_per_step / batch_size
    fitting = max(0, int((free - fixed) // per_batch_image))
    side = f"{image_side}x{image_side}"
    remedy = (f"give --batch_size {fitting} or less" if fitting else "no batch fits") + " (or a smaller --image_size)"
    raise UserError(f"{what}: a training step of {images_per_step} images of {side} needs at least {needed / GB:.1f} GB "
                    f"({per_image / 1e6:.0f} MB of saved activations an image), and {device} has {max(free, 0) / GB:.1f} "
                    f"GB free: {remedy}")
