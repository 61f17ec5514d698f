"""The model registry: a backbone name -> its constructor, table row, head and recipe.

`<name>` is the backbone with its own head (the benchmark head unless it registered another);
`<name>_ldm` is the same backbone with the Label Decoupling head around that head. `split_model_name`
is the one place that reads the suffix. A backbone file registers itself when imported, and
`models/__init__.py` imports every module of the package, so a new backbone is one new file.
"""
from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .heads import benchmark_head
from .ldm import LabelDecouplingHead, ldm_loss
from .recipe import Recipe

LDM_SUFFIX = "_ldm"


@dataclass(frozen=True)
class Backbone:
    name: str
    build: callable            # input_channels -> nn.Module mapping (B, C, T) to (B, out_features)
    row: str                   # the table row of the baseline; the LDM row is row + "+LDM"
    head: callable             # (in_features, num_classes) -> nn.Module giving logits
    recipe: Recipe
    ldm_recipe: Recipe
    init: callable             # model -> model, applied once after construction, or None
    layer_groups: callable     # backbone -> its layer groups (modules or lists of them), first to last, for fine-tuning


_BACKBONES = {}


def benchmark_init(model):
    """The reference's `model.apply(weight_init)` after construction: Kaiming-normal conv and linear weights,
    zero biases, BatchNorm weight 1 and bias 0. LSTMs keep PyTorch's default (the reference skipped them)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, LabelDecouplingHead):
            m.init_like_reference()
    return model


def whole_backbone(backbone):
    """One layer group: the backbone as a whole (the benchmark's LSTMs and ResNet1d_wang)."""
    return [backbone]


def register_backbone(name, row=None, recipe=Recipe(), ldm_recipe=None, head=benchmark_head, init=benchmark_init,
                      layer_groups=whole_backbone):
    """Decorator: register `fn(input_channels) -> nn.Module` mapping (B, C, T) to pooled features (B, F), with
    `out_features = F`. Both `name` and `name + "_ldm"` then work everywhere (driver, table, benchmark).

    row: the table's row name (default: `name`); recipe: its training and evaluation recipe (default: the
    benchmark's); ldm_recipe: the LDM variant's, if it differs; head: `(F, labels) -> module` when the
    backbone brings its own head; init: applied to the whole model once built (default: the benchmark's
    weight_init; None keeps PyTorch's and the modules' own initialisation); layer_groups: `backbone ->
    [modules]`, its layer groups from the input on, as the benchmark's `get_layer_groups` splits it (default:
    one group), which fine-tuning gives learning rates spaced geometrically from lr/1000 (the first group) to
    lr/10 (the head, a group of its own; training/finetune.py).
    """
    if name.endswith(LDM_SUFFIX):
        raise UserError(f"backbone name {name!r} must not end in {LDM_SUFFIX!r}: the LDM variant is added for you")

    def decorator(fn):
        _BACKBONES[name] = Backbone(name, fn, row or name, head, recipe, ldm_recipe or recipe, init, layer_groups)
        return fn

    return decorator


def split_model_name(name):
    """`fcn_wang_ldm` -> ("fcn_wang", True); `fcn_wang` -> ("fcn_wang", False)."""
    if name.endswith(LDM_SUFFIX):
        return name[: -len(LDM_SUFFIX)], True
    return name, False


def _backbone(name):
    base, _ = split_model_name(name)
    if base not in _BACKBONES:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(available_models())}")
    return _BACKBONES[base]


def available_models():
    """Every name `build_model` accepts, each backbone followed by its LDM variant, in registration order."""
    return [n for b in _BACKBONES for n in (b, b + LDM_SUFFIX)]


def model_row(name):
    """The table's row name: `FCN_wang`, `FCN_wang+LDM`."""
    backbone, is_ldm = split_model_name(name)
    row = _BACKBONES[backbone].row if backbone in _BACKBONES else backbone
    return row + "+LDM" if is_ldm else row


def model_recipe(name):
    """The recipe `name` trains and evaluates with."""
    backbone = _backbone(name)
    return backbone.ldm_recipe if split_model_name(name)[1] else backbone.recipe


def model_layer_groups(name, model):
    """[[parameters]]: the layer groups of a model `build_model(name, ...)` built, the backbone's registered ones
    from the input on and the head last, for fine-tuning's discriminative learning rates."""
    groups = _backbone(name).layer_groups(model.backbone) + [model.head]
    return [[p for module in (group if isinstance(group, list) else [group]) for p in module.parameters()]
            for group in groups]


def bce_loss(outputs, targets):
    return F.binary_cross_entropy_with_logits(outputs.float(), targets.float())


def ldm_training_loss(outputs, targets):
    logits, embeddings = outputs
    return ldm_loss(logits.float(), embeddings.float(), targets)


class ECGClassifier(nn.Module):
    """A backbone (signals -> pooled features) followed by a head (features -> logits [, embeddings]),
    with the training loss that goes with the head: `model.loss(model(x), y)`."""

    def __init__(self, backbone, head, loss):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.loss = loss

    def forward(self, x):
        return self.head(self.backbone(x))


def build_model(name, num_classes, input_channels=12):
    """`name` is a registered backbone, optionally with the suffix `_ldm` for the Label Decoupling head."""
    backbone = _backbone(name)
    features_net = backbone.build(input_channels)
    features = getattr(features_net, "out_features", None)
    if not isinstance(features, int):
        raise UserError(f"backbone {backbone.name!r} must set an integer attribute `out_features` "
                        "(its pooled feature size)")
    head = backbone.head(features, num_classes)
    if split_model_name(name)[1]:
        model = ECGClassifier(features_net, LabelDecouplingHead(features, num_classes, shared=head), ldm_training_loss)
    else:
        model = ECGClassifier(features_net, head, bce_loss)
    return backbone.init(model) if backbone.init else model
