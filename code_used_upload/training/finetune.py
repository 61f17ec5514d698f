"""The benchmark's fine-tuning of a trained model on a new task: gradual unfreezing and discriminative rates.

As the benchmark's `fastai_model.fit` with `pretrained=True` (fastai 1.0.61): the model's layer groups
(the backbone's, as it registered them, then the head) are split as `learn.split` splits them, and
`learn.train_bn = True`. Stage 1 (`learn.freeze()`; `fit_one_cycle(N, lr)`): only the last group, the head,
trains, with every BatchNorm layer of the frozen groups (fastai's train_bn: their affine weights train, and
their running statistics follow the new data, as the model trains in train mode); every other backbone
weight, each convolution among them, stays as trained. Stage 2 (`learn.unfreeze()`; `fit_one_cycle(N,
slice(lr / 1000, lr / 10))`): every layer trains, each group at its own peak rate, spaced geometrically
from lr / 1000 (the first group) to lr / 10 (the head), fastai's `even_mults`. Each stage is a one-cycle
schedule of N epochs at the recipe's optimiser (training/loop.py). The loop knows no model: the caller
passes the groups.
"""
from dataclasses import replace

import numpy as np
from torch import nn

from code_used_upload.training.loop import train_model

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)  # fastai's bn_types, which train_bn keeps training


def discriminative_rates(lr, n_groups):
    """fastai's even_mults(lr / 1000, lr / 10, n): peak rates spaced geometrically, the first group's lowest."""
    return list(np.geomspace(lr / 1000, lr / 10, n_groups)) if n_groups > 1 else [lr / 10]


def head_and_batchnorm(model, groups):
    """The parameters stage 1 trains: the last group's (the head) and every BatchNorm layer's."""
    head = {id(parameter) for parameter in groups[-1]}
    batchnorm = [parameter for module in model.modules() if isinstance(module, BATCHNORMS)
                 for parameter in module.parameters(recurse=False) if id(parameter) not in head]
    return list(groups[-1]) + batchnorm


def train_head(model, groups, signals, targets, recipe, settings, seed, epochs, **kwargs):
    """Stage 1: the head and the BatchNorm layers for `epochs`, one-cycle at the recipe's rate, every other
    weight frozen (requires_grad off for the stage, so none of them changes); returns the history."""
    trained = {id(parameter) for parameter in head_and_batchnorm(model, groups)}
    frozen = [parameter for parameter in model.parameters() if id(parameter) not in trained]
    for parameter in frozen:
        parameter.requires_grad_(False)
    try:
        return train_model(model, signals, targets, _one_cycle(recipe), replace(settings, epochs=epochs), seed,
                           groups=[(head_and_batchnorm(model, groups), recipe.max_lr)], **kwargs)
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)


def train_all_layers(model, groups, signals, targets, recipe, settings, seed, epochs, **kwargs):
    """Stage 2: every layer for `epochs`, one-cycle, each group at its discriminative rate; returns the history."""
    rates = discriminative_rates(recipe.max_lr, len(groups))  # seed + 1: other crops than stage 1's
    return train_model(model, signals, targets, _one_cycle(recipe), replace(settings, epochs=epochs), seed + 1,
                       groups=list(zip(groups, rates)), **kwargs)


def finetune_model(model, groups, signals, targets, recipe, settings, seed, epochs, **kwargs):
    """Both stages, `epochs` each; the history of the 2 * epochs epochs (train_model's, stage 2's numbered on)."""
    first = train_head(model, groups, signals, targets, recipe, settings, seed, epochs, **kwargs)
    second = train_all_layers(model, groups, signals, targets, recipe, settings, seed, epochs, **kwargs)
    return {"train_loss": first["train_loss"] + second["train_loss"],
            "val_auc": first["val_auc"] + [(epoch + epochs, auc) for epoch, auc in second["val_auc"]],
            "kept_epoch": second["kept_epoch"] + epochs}


def _one_cycle(recipe):
    """The recipe's optimiser with fastai's one-cycle schedule, as both of the benchmark's stages train."""
    return replace(recipe, schedule="one_cycle")
