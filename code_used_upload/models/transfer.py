"""A trained cell's weights in a model for another task, as the benchmark fine-tunes (its Finetuning-Example
notebook, fastai_model.fit with pretrained=True): the backbone and the head's hidden layers keep the trained
weights, the output layer is new for the task's classes (Kaiming normal, zero bias: fastai's `apply_init(...,
kaiming_normal_)`). An LDM model's per-label branches, which belong to the old labels, are new as well."""
from torch import nn

from ..errors import UserError
from .ldm import LabelDecouplingHead
from .registry import split_model_name


def classifier_head(model):
    """The head that maps features to the labels' logits: the model's own, or the one inside its LDM head."""
    return model.head.shared if isinstance(model.head, LabelDecouplingHead) else model.head


def output_layer_name(head):
    """The name of a classifier head's output layer within it: its last Linear ('' where the head is one)."""
    return [name for name, module in head.named_modules() if isinstance(module, nn.Linear)][-1]


def load_pretrained(model, model_name, state_dict, source_name):
    """Put the trained `state_dict` of a `source_name` model into `model` (built by `build_model(model_name,
    classes)`), all but the output layer, which gets new Kaiming-normal weights. A UserError when the two
    models have different backbones."""
    backbone, source_backbone = split_model_name(model_name)[0], split_model_name(source_name)[0]
    if backbone != source_backbone:
        raise UserError(f"--init_from holds a {source_name} cell, whose backbone {source_backbone} is not "
                        f"{model_name}'s ({backbone}): fine-tune {source_backbone} or {source_backbone}_ldm")
    model.backbone.load_state_dict({name[len("backbone."):]: value for name, value in state_dict.items()
                                    if name.startswith("backbone.")})
    head = classifier_head(model)
    output = output_layer_name(head)
    source_prefix = "head.shared." if split_model_name(source_name)[1] else "head."
    hidden = {name: state_dict[source_prefix + name] for name in head.state_dict()
              if output and not name.startswith(f"{output}.")}  # a head that is one Linear has no hidden layer
    head.load_state_dict(hidden, strict=False)
    layer = head.get_submodule(output)
    nn.init.kaiming_normal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return model
