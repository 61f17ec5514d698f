"""The model registry: backbone name -> constructor; `<name>` gets the benchmark head, `<name>_ldm` the LDM head."""
from torch import nn

from ..utils.errors import UserError
from .heads import benchmark_head
from .ldm import LabelDecouplingHead

LDM_SUFFIX = "_ldm"
_BACKBONES = {}


def register_backbone(name):
    """Decorator: register `fn(input_channels) -> nn.Module` mapping (B, C, T) to pooled features (B, F),
    with `out_features = F`. Both `name` and `name + "_ldm"` then work in `build_model`."""
    if name.endswith(LDM_SUFFIX):
        raise UserError(f"backbone name {name!r} must not end in {LDM_SUFFIX!r}: the LDM variant is added for you")

    def decorator(fn):
        _BACKBONES[name] = fn
        return fn

    return decorator


def available_models():
    """Every name `build_model` accepts, each backbone followed by its LDM variant."""
    return [n for b in _BACKBONES for n in (b, b + LDM_SUFFIX)]


class ECGClassifier(nn.Module):
    """A backbone (signals -> pooled features) followed by a head (features -> logits [, embeddings])."""

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.is_ldm = isinstance(head, LabelDecouplingHead)

    def forward(self, x):
        return self.head(self.backbone(x))


def init_like_reference(model):
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


def build_model(name, num_classes, input_channels=12):
    """`name` is a registered backbone, optionally with the suffix `_ldm` for the Label Decoupling head."""
    is_ldm = name.endswith(LDM_SUFFIX)
    base = name[: -len(LDM_SUFFIX)] if is_ldm else name
    if base not in _BACKBONES:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(available_models())}")
    backbone = _BACKBONES[base](input_channels)
    features = getattr(backbone, "out_features", None)
    if not isinstance(features, int):
        raise UserError(f"backbone {base!r} must set an integer attribute `out_features` (its pooled feature size)")
    head = LabelDecouplingHead(features, num_classes) if is_ldm else benchmark_head(features, num_classes)
    return init_like_reference(ECGClassifier(backbone, head))
