"""torchvision's ImageNet ResNet-18 and ResNet-50 as backbones for a user's photographs (`--arch resnet18|resnet50`).

Their stem (a 7 x 7 convolution of stride 2, then a max pool of stride 2) downsamples 4x before the
first block, so a 224 x 224 photograph costs ResNet-18 about 1.8 GFLOP forward and 33 MB of saved
activations, where the CIFAR PreAct-ResNet18, which never downsamples before its first block, costs 54
GFLOP and 373 MB. The networks are torchvision's own (`torchvision.models.resnet18/50`), their
classifier removed: the backbone ends at the globally pooled features (512, 2048), which the method's
head classifies.

Weights: none (PyTorch's initialisation, torchvision's), torchvision's ImageNet weights (`imagenet`:
IMAGENET1K_V1, downloaded into torch's cache by torchvision when missing), or a state dict of your own
(a path, read with `weights_only=True`; torchvision's keys, the `fc.` ones ignored). Grey images (one
channel) with 3-channel weights: the first convolution's weights summed over their input channels,
which is what the network computes on the grey image repeated into R, G and B (as timm adapts a stem).
"""
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError

ARCHS = ("resnet18", "resnet50")
IMAGENET = "imagenet"  # --pretrained without a path: torchvision's ImageNet weights
# the ImageNet statistics torchvision's weights were trained with, for images normalised as theirs
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _weights_enum(arch):
    from torchvision.models import ResNet18_Weights, ResNet50_Weights
    return {"resnet18": ResNet18_Weights, "resnet50": ResNet50_Weights}[arch].IMAGENET1K_V1


def pretrained_name(arch, pretrained):
    """How a run records its starting weights: torchvision's weights by name, your own file by itself
    (its content is fingerprinted by the caller)."""
    return f"torchvision {_weights_enum(arch)}" if pretrained == IMAGENET else str(pretrained)


def imagenet_resnet(arch, in_channels=3, pretrained=None):
    """torchvision's `arch` without its classifier, for images of `in_channels` channels, from `pretrained`
    (None, IMAGENET or a path to a state dict): a module mapping (B, C, H, W) to (B, out_features)."""
    import torchvision.models as tv

    if arch not in ARCHS:
        raise UserError(f"--arch {arch}: use one of {', '.join(ARCHS)}")
    net = getattr(tv, arch)(weights=None)
    if pretrained is not None:
        if pretrained == IMAGENET:
            state = _imagenet_state(arch)
        else:
            state = _state_from_file(pretrained)  # read once, checked against the network just built
            _refuse_other_shapes(arch, pretrained, state, net.state_dict())
        net.load_state_dict({key: value for key, value in state.items() if not key.startswith("fc.")}, strict=False)
    if in_channels != 3:
        stem = net.conv1
        net.conv1 = nn.Conv2d(in_channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
        if pretrained is not None:
            if in_channels != 1:
                raise UserError(f"--pretrained on {in_channels}-channel images: ImageNet's weights take 3 channels "
                                f"(or 1, grey); train without --pretrained")
            with torch.no_grad():
                net.conv1.weight.copy_(stem.weight.sum(dim=1, keepdim=True))
    out_features = net.fc.in_features
    net.fc = nn.Identity()
    net.out_features = out_features
    return net


def check_pretrained(arch, path):
    """Refuse (UserError) a `--pretrained PATH` that is not a state dict of torchvision's `arch`, before any
    image is read: the same keys (the classifier's aside) and shapes."""
    import torchvision.models as tv

    state = _state_from_file(path)
    with torch.device("meta"):
        _refuse_other_shapes(arch, path, state, getattr(tv, arch)(weights=None).state_dict())


def _refuse_other_shapes(arch, path, state, network_state):
    """A UserError unless `state` has the keys and shapes of `network_state` (`arch`'s), the classifier's and
    BatchNorm's step counters aside (torch starts them at 0 where a file, an older torchvision's, has none)."""
    def checked(key):
        return not key.startswith("fc.") and not key.endswith("num_batches_tracked")

    expected = {key: value.shape for key, value in network_state.items() if checked(key)}
    given = {key: value.shape for key, value in state.items() if checked(key)}
    wrong = sorted(key for key in expected if key in given and given[key] != expected[key])
    missing, unexpected = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
    if wrong or missing or unexpected:
        example = (f"{wrong[0]} is {tuple(given[wrong[0]])}, not {tuple(expected[wrong[0]])}" if wrong else
                   f"{len(missing)} keys missing, e.g. {missing[0]}" if missing else
                   f"{len(unexpected)} keys not {arch}'s, e.g. {unexpected[0]}")
        raise UserError(f"--pretrained {path}: not the weights of torchvision's {arch} ({example}); give that network's "
                        f"state dict, or the --arch it belongs to")


def _imagenet_state(arch):
    """torchvision's ImageNet state dict, downloaded into torch's cache when missing; offline, one line
    naming the file and where to place it."""
    from torch.hub import get_dir

    weights = _weights_enum(arch)
    target = Path(get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=True, check_hash=True, map_location="cpu", weights_only=True)
    except Exception as error:  # no network, a proxy, a partial file: each ends the same way for the user
        raise UserError(f"--pretrained: torchvision's {arch} ImageNet weights could not be loaded "
                        f"({type(error).__name__}: {error}); download {weights.url} and place it at {target}, "
                        f"or give --pretrained PATH to a state dict") from None


def _state_from_file(path):
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"--pretrained {path}: {'a folder' if path.is_dir() else 'no such file'}; give a state dict saved "
                        f"with torch.save(model.state_dict(), PATH), or --pretrained {IMAGENET} for torchvision's "
                        f"ImageNet weights")
    try:
        with warnings.catch_warnings():  # torch warns of an old pickle protocol before refusing what it holds
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # its messages run over several lines: the first says what was refused
        reason = (str(error).strip().splitlines() or [""])[0]
        raise UserError(f"--pretrained {path} is not a state dict torch can read safely ({type(error).__name__}: "
                        f"{reason}); save the weights with torch.save(model.state_dict(), PATH)") from None
    if not isinstance(state, dict) or not all(isinstance(key, str) and isinstance(value, torch.Tensor)
                                              for key, value in state.items()):
        raise UserError(f"--pretrained {path} holds no state dict (a mapping of names to tensors); save the weights "
                        f"with torch.save(model.state_dict(), PATH)")
    return state
