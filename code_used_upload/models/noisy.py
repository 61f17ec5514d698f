"""Classifiers for learning with noisy labels: a backbone, the HMW head or a linear classifier, the method's loss.

The methods, named as the HMW authors' trainer names them (`--method`):
- `cce`, `sce`: the backbone's own linear classifier (with bias) and the unweighted cross-entropy or
  symmetric cross-entropy (Wang et al., ICCV 2019) on its raw logits. The authors' code cannot run them
  (its loss is defined only for a weighting head); here they are the baselines the weighting is judged by.
- `hmw+cce`, `hmw+sce`: the HMW head (models/hmw.py): the loss on its normalised training logits, each
  sample's loss times its integrated weight once the recipe's unweighted epochs are over, and the batch
  mean of that product, not divided by the sum of the weights (as the authors).
- `uc`, `hmw+uc`: UniCon (Karim et al., CVPR 2022) as the HMW authors adapted it, two networks with a
  projection and a linear classifier or the HMW head (models/unicon.py; the run is training/unicon_loop.py).
- `cleanlab`: the `cce` classifier, trained on the samples that cleanlab's `find_label_issues` keeps
  from K-fold out-of-fold probabilities of the same classifier (experiments/cleanlab_folds.py runs the folds).
Under asymmetric noise every method adds the authors' penalty on confident predictions, the batch mean
of sum_c p_c log p_c (a negative entropy), in every epoch. SCE is a CE + b RCE with the authors' (a, b)
per data set and their clamps (p to 1e-7..1, the one-hot label to 1e-4..1, so RCE = -log(1e-4) (1 - p_y)
up to the clamp of p).

`NOISY_SETUPS` holds, per data set, what the authors fix: the backbone, the recipe and SCE's (a, b).
`ARCH_SETUPS` holds the same per network for a user's own images (`imagefolder`, `--arch`): the
PreAct-ResNet18 with the CIFAR-10 setup, the MLP with the digits' one, torchvision's ImageNet ResNet-18 and
ResNet-50 for photographs (models/imagenet_resnet.py) with a recipe of their own, each taking the images'
channels (and, for the MLP, their size). A run is resolved once from them (experiments/noisy_run.py), and the
model is built from the resolved network's name, so that the trainer knows no model.
"""
import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .hmw import HMWHead
from .imagenet_resnet import ARCHS as IMAGENET_ARCHS, imagenet_resnet
from .mlp import digits_mlp
from .preact_resnet import preact_resnet18
from .recipe import Recipe
from .unicon import UniConNet

CLASSIFIERS = ("cce", "sce", "hmw+cce", "hmw+sce")  # one network, its head and loss (NoisyLabelClassifier)
CLEANLAB = "cleanlab"  # the cce classifier, trained on the samples cleanlab keeps (experiments/cleanlab_folds.py)
UNICON = ("uc", "hmw+uc")  # two networks co-trained on what each selects for the other (models/unicon.py)
METHODS = (*CLASSIFIERS, CLEANLAB, *UNICON)
# UniCon's strong view for each weak one: CIFAR's AutoAugment policy after its crop and flip; on the digits
# the one-pixel shift with a per-sample intensity scale (training/unicon_views.py says why)
UNICON_STRONG_VIEWS = {"crop_flip": "cifar10_policy", "shift": "shift_scale"}
HMW_PREFIX = "hmw+"

# the authors' CIFAR recipe: SGD 0.02, momentum 0.9, weight decay 5e-4 (the head's too), batch 128,
# 250 epochs, the lr times 0.1 at epochs 125 and 200, the first 10 epochs unweighted, crop and flip
CIFAR_RECIPE = Recipe(optimizer="sgd", max_lr=0.02, momentum=0.9, weight_decay=5e-4, schedule="multistep",
                      milestones=(125, 200), gamma=0.1, epochs=250, unweighted_epochs=10, augment="crop_flip")
# the demo's: an MLP on 8 x 8 digits, the authors' optimiser, 100 epochs, steps at 50 and 80, no augmentation,
# batch 32 (1,257 images: 40 steps an epoch, enough for plain cross-entropy to memorise the noise, as it
# does on CIFAR; at batch 128 it memorises less, and HMW's gain at 40% symmetric noise halves)
DIGITS_RECIPE = replace(CIFAR_RECIPE, milestones=(50, 80), epochs=100, augment=None, batch_size=32)
# --arch mlp on a user's images: the digits' recipe with the one-pixel shift, which ranks label_issues.csv
# better. Measured on the digits written as 8 x 8 PNGs with 40% in a wrong folder (hmw+cce, seeds 0-2, the
# full recipe): the weights' AUROC at finding them 0.999 against 0.978-0.983 without augmentation, and the
# file's top rows, as many as there are misplaced images, 98.7% misplaced against 90%; with 10% in a wrong
# folder 0.9999 against 0.989. The same held-out accuracy.
# The digits demo keeps its recipe.
IMAGE_MLP_RECIPE = replace(DIGITS_RECIPE, augment="shift")
# uc, hmw+uc: the authors' CIFAR recipe with their labelled batch of 64 (the warm-up's 128); on the digits
# 40 epochs, steps at 25 and 35, batches of 16 (warm-up 32) and the shift, which measured better and
# cheaper than the cce recipe's 100 epochs at batch 64 (sym 0.6, seeds 0 and 1: uc 0.919, 0.920 against
# 0.889, 0.887; hmw+uc 0.924, 0.931 against 0.898, 0.898), about 11 s a run on one thread
UNICON_CIFAR_RECIPE = replace(CIFAR_RECIPE, batch_size=64)
UNICON_MLP_RECIPE = replace(DIGITS_RECIPE, epochs=40, milestones=(25, 35), batch_size=16, augment="shift")


@dataclass(frozen=True)
class NoisySetup:
    arch: str            # the backbone's name, as --arch and a run's record say it
    backbone: callable   # ((C, H, W) of the images, pretrained or None) -> module mapping a batch to (B, out_features)
    recipe: Recipe
    sce: tuple           # SCE's (a, b)
    unicon_recipe: Recipe = None  # uc, hmw+uc: their recipe (its unweighted epochs are UniCon's warm-up)
    cpu_threads: int = None  # CPU threads unless the run says otherwise (None: every core)
    crop_flip_side: int = None  # the one side at which the recipes' crop_flip is kept, shift at others; None: any
    pretrained_recipe: Recipe = None  # --pretrained: the recipe from pretrained weights (None: no such weights)
    pretrained_unicon_recipe: Recipe = None

    def view_for(self, view, side):
        """The recipe's view at images of `side` pixels: crop_flip, where this network keeps it only at one side,
        becomes the one-pixel shift at the others."""
        return "shift" if view == "crop_flip" and self.crop_flip_side not in (None, side) else view


def preact_resnet18_for(image_shape, pretrained=None):
    """The authors' PreAct-ResNet18 on images of image_shape[0] channels, any side."""
    return preact_resnet18(in_channels=image_shape[0])


def mlp_for(image_shape, pretrained=None):
    """The digits' MLP on the flattened images: C * H * W inputs."""
    return digits_mlp(in_features=math.prod(image_shape))


def imagenet_resnet_for(arch):
    def backbone(image_shape, pretrained=None):
        return imagenet_resnet(arch, image_shape[0], pretrained)
    return backbone


# --arch resnet18|resnet50 on photographs: the authors' optimiser, lr, momentum and weight decay with batches of
# 64 (a 224 px batch of 128 needs about 4.2 GB of ResNet-18's saved activations, 16.7 GB of ResNet-50's) and a
# shorter schedule (measured on photographs at 64 px, docs/your-own-data.md); from ImageNet's weights, one tenth
# of the rate for 30 epochs, the usual fine-tuning choice (not measured: no ImageNet weights can be downloaded here)
PHOTO_RECIPE = replace(CIFAR_RECIPE, batch_size=64, epochs=100, milestones=(50, 75), unweighted_epochs=10)
PRETRAINED_PHOTO_RECIPE = replace(PHOTO_RECIPE, max_lr=0.002, epochs=30, milestones=(15, 25), unweighted_epochs=3)
UNICON_PHOTO_RECIPE = replace(PHOTO_RECIPE, batch_size=32)
UNICON_PRETRAINED_PHOTO_RECIPE = replace(PRETRAINED_PHOTO_RECIPE, batch_size=32)
ARCH_SETUPS = {
    "preact_resnet18": NoisySetup("preact_resnet18", preact_resnet18_for, CIFAR_RECIPE, (0.1, 1.0), UNICON_CIFAR_RECIPE,
                                  crop_flip_side=32),
    # one thread: the MLP's operations are too small to gain from two, and lose tenfold when the cores are busy
    "mlp": NoisySetup("mlp", mlp_for, IMAGE_MLP_RECIPE, (0.1, 1.0), UNICON_MLP_RECIPE, cpu_threads=1),
    **{arch: NoisySetup(arch, imagenet_resnet_for(arch), PHOTO_RECIPE, (0.1, 1.0), UNICON_PHOTO_RECIPE,
                        pretrained_recipe=PRETRAINED_PHOTO_RECIPE,
                        pretrained_unicon_recipe=UNICON_PRETRAINED_PHOTO_RECIPE) for arch in IMAGENET_ARCHS},
}
NOISY_SETUPS = {
    "cifar10": ARCH_SETUPS["preact_resnet18"],
    "cifar100": replace(ARCH_SETUPS["preact_resnet18"], recipe=replace(CIFAR_RECIPE, unweighted_epochs=30), sce=(6.0, 0.1),
                        unicon_recipe=replace(UNICON_CIFAR_RECIPE, unweighted_epochs=30)),
    "digits": replace(ARCH_SETUPS["mlp"], recipe=DIGITS_RECIPE),
}
IMAGE_FOLDER = "imagefolder"  # a user's own images (data/imagefolder.py): the network is the run's --arch
DATASETS = (*NOISY_SETUPS, IMAGE_FOLDER)
DATASET_SIDES = {"cifar10": 32, "cifar100": 32, "digits": 8}  # the side of the fixed data sets' images
SMALL_IMAGES = 32    # imagefolder without --arch: the MLP below this side,
PHOTOS = 64          # the PreAct-ResNet18 from it, torchvision's ResNet-18 from this side
# the fewest classes each method's head can learn: HMW's weight needs a label, its nearest rival and a next one;
# hmw+uc's mixup weights two labels, a rival and a next one
MIN_CLASSES = {**{method: 3 for method in CLASSIFIERS if method.startswith(HMW_PREFIX)}, "hmw+uc": 4}


def check_dataset(dataset):
    if dataset not in DATASETS:
        raise UserError(f"dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    return dataset


def noisy_setup(dataset, arch=None, image_size=None):
    """What trains on `dataset`. For CIFAR-10/100 and the digits, their fixed setup: a number of the paper
    (or of the demo) stands for its network, so `arch` is refused there rather than recorded beside it.
    For a user's images of side `image_size`, the setup of `arch` (None: the MLP below 32 px, the
    PreAct-ResNet18 from 32 px, torchvision's ResNet-18 from 64 px)."""
    check_dataset(dataset)
    if dataset != IMAGE_FOLDER:
        if arch is not None:
            raise UserError(f"--arch {arch}: {dataset} trains the network fixed for it ({NOISY_SETUPS[dataset].arch}); "
                            f"--arch chooses the network for your own images (--dataset {IMAGE_FOLDER})")
        return NOISY_SETUPS[dataset]
    arch = arch or ("mlp" if image_size < SMALL_IMAGES else "preact_resnet18" if image_size < PHOTOS else "resnet18")
    if arch not in ARCH_SETUPS:
        raise UserError(f"--arch {arch}: use one of {', '.join(ARCH_SETUPS)}")
    return ARCH_SETUPS[arch]


def check_method(method, num_classes=None):
    """`method` known, and where `num_classes` is given, one that can learn them: asked before anything is
    written, so that HMW's head does not refuse too few classes only once a run has started."""
    if method not in METHODS:
        raise UserError(f"method {method!r}: use one of {', '.join(METHODS)}")
    fewest = MIN_CLASSES.get(method, 2)
    if num_classes is not None and num_classes < fewest:
        others = ", ".join(m for m in METHODS if MIN_CLASSES.get(m, 2) <= num_classes)
        raise UserError(f"--method {method} needs at least {fewest} classes (HMW weighs a label against its nearest "
                        f"rival and a next one{'; its mixup weights two labels' if method == 'hmw+uc' else ''}); this "
                        f"data set has {num_classes}: use {others}")
    return method


def symmetric_cross_entropy(logits, labels, a, b):
    """Per-sample a CE + b RCE, as the authors' SCELoss (reduction none)."""
    ce = F.cross_entropy(logits, labels, reduction="none")
    probabilities = torch.softmax(logits, dim=1).clamp(min=1e-7, max=1.0)
    one_hot = F.one_hot(labels, logits.shape[1]).float().clamp(min=1e-4, max=1.0)
    rce = -(probabilities * torch.log(one_hot)).sum(dim=1)
    return a * ce + b * rce


def negative_entropy(logits):
    """The batch mean of sum_c p_c log p_c: the authors' NegEntropy, added under asymmetric noise."""
    probabilities = torch.softmax(logits, dim=1)
    return (probabilities * probabilities.log()).sum(dim=1).mean()


class NoisyLabelClassifier(nn.Module):
    """backbone -> head; `model(images)` gives the raw logits (evaluation), `training_outputs` the training
    logits, the raw logits and the per-sample weights (None without HMW), `loss` the method's loss."""

    def __init__(self, backbone, num_classes, method, train_size, epochs, unweighted_epochs=0, sce=None,
                 confidence_penalty=False, **hmw_options):
        super().__init__()
        self.backbone = backbone
        if method not in CLASSIFIERS:
            raise UserError(f"method {method!r} is not one network's classifier: use one of {', '.join(CLASSIFIERS)}")
        self.weighted = method.startswith(HMW_PREFIX)
        features = backbone.out_features
        self.head = (HMWHead(features, num_classes, train_size, epochs, **hmw_options) if self.weighted
                     else nn.Linear(features, num_classes))
        self.criterion = method.removeprefix(HMW_PREFIX)
        if self.criterion == "sce" and sce is None:
            raise ValueError(f"method {method!r} needs SCE's (a, b): the data set's, models/noisy.py NOISY_SETUPS")
        self.sce = None if sce is None else tuple(sce)
        self.unweighted_epochs = unweighted_epochs
        self.confidence_penalty = confidence_penalty

    def forward(self, images):
        return self.head(self.backbone(images))

    def training_outputs(self, images, labels, index, epoch):
        """(logits the loss is taken on, raw logits z for the margins, weights (B,) or None)."""
        features = self.backbone(images)
        if not self.weighted:
            logits = self.head(features)
            return logits, logits, None
        logits, weights = self.head(features, labels, index, epoch)
        return logits, self.head(features), weights

    def loss(self, logits, weights, labels, epoch):
        """The batch mean of the per-sample loss, weighted after the unweighted epochs, plus the penalty."""
        logits = logits.float()
        if self.criterion == "sce":
            per_sample = symmetric_cross_entropy(logits, labels, *self.sce)
        else:
            per_sample = F.cross_entropy(logits, labels, reduction="none")
        if weights is not None and epoch >= self.unweighted_epochs:
            per_sample = per_sample * weights
        loss = per_sample.mean()
        return loss + negative_entropy(logits) if self.confidence_penalty else loss


def build_unicon_networks(arch, method, num_classes, train_size, epochs, image_shape=(3, 32, 32), pretrained=None,
                          **hmw_options):
    """UniCon's two networks (net1, net2): each `arch`'s backbone (ARCH_SETUPS) with its projection and its linear
    classifier (`uc`) or HMW head (`hmw+uc`, which takes `hmw_options`), initialised one after the other."""
    options = hmw_options if method == "hmw+uc" else {}
    return tuple(UniConNet(ARCH_SETUPS[arch].backbone(image_shape, pretrained), num_classes, method,
                           train_size=train_size, epochs=epochs, **options) for _ in range(2))


def build_noisy_model(arch, method, num_classes, train_size, epochs, unweighted_epochs=0, sce=None,
                      confidence_penalty=False, image_shape=(3, 32, 32), pretrained=None, **hmw_options):
    """`arch`'s backbone (ARCH_SETUPS) for images of `image_shape` (C, H, W; CIFAR's by default), from
    `pretrained` weights where given, with the method's head and loss; `epochs` is the run's length (HMW's
    schedule)."""
    return NoisyLabelClassifier(ARCH_SETUPS[arch].backbone(image_shape, pretrained), num_classes, method, train_size,
                                epochs, unweighted_epochs=unweighted_epochs, sce=sce,
                                confidence_penalty=confidence_penalty, **hmw_options)
