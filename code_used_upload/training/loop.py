"""The training loop: a model's recipe applied to resident signals, in plain PyTorch.

The default recipe is the benchmark's (fastai 1.0.61 `fit_one_cycle` defaults): AdamW (decoupled
weight decay 1e-2 on every parameter, as fastai's `true_wd`/`bn_wd`), one-cycle schedule over all
steps (30% cosine warm-up from max/25, cosine down to max/25e4, beta1 cycled 0.95 -> 0.85 -> 0.95):
exactly `torch.optim.lr_scheduler.OneCycleLR` with its defaults. A recipe may ask for a constant
learning rate and for the checkpoint of the best validation macro-AUC instead of the last one. Each
epoch every training record gives one random crop, in shuffled batches with the incomplete last
batch dropped. Batches are cut on the training device from one resident tensor of raw signals and
standardised there, as they are made. The loss is the model's own (`model.loss`): this loop knows
no model by name.
"""
import copy
import random

import numpy as np
import torch
from tqdm.auto import tqdm

from code_used_upload.training.crops import ResidentRecords, random_crops
from code_used_upload.training.device import training_autocast


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite: the cell stops, the grid goes on."""


def seed_everything(seed):
    """One seed drives initialisation, crops, shuffling and dropout."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(model, recipe, total_steps, steps_per_epoch=1, groups=None):
    """The recipe's optimiser and its schedule, stepped after every batch.

    AdamW with the recipe's betas and decoupled weight decay, or SGD with momentum and L2 weight decay
    (torch's, as the HMW authors'); OneCycleLR (fastai's fit_one_cycle), a constant lr, or a step
    schedule: the lr times `gamma` at each of the recipe's epoch milestones (the authors' MultiStepLR
    stepped once per epoch, here expressed in batches of `steps_per_epoch`). `groups`: [(parameters,
    max_lr)] to train instead of every parameter at the recipe's rate (fine-tuning's layer groups).
    """
    groups = groups or [(list(model.parameters()), recipe.max_lr)]
    parameters = [{"params": params, "lr": lr} for params, lr in groups]
    if recipe.optimizer == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=recipe.max_lr, momentum=recipe.momentum,
                                    weight_decay=recipe.weight_decay)
    else:
        optimizer = torch.optim.AdamW(parameters, lr=recipe.max_lr, betas=tuple(recipe.betas),
                                      weight_decay=recipe.weight_decay)
    if recipe.schedule == "one_cycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[lr for _, lr in groups],
                                                       total_steps=total_steps)
    elif recipe.schedule == "multistep":
        milestones = [milestone * steps_per_epoch for milestone in recipe.milestones]
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=recipe.gamma)
    else:
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return optimizer, schedule


def training_step(model, batch, targets, optimizer, schedule, clip=None, precision="tf32"):
    """One step of the recipe: forward (bf16 autocast only under `bf16` on CUDA), the model's loss in
    float32, backward, clipping, update."""
    with training_autocast(batch.device, precision):
        outputs = model(batch)
    loss = model.loss(outputs, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    schedule.step()
    return loss.detach()


def train_model(model, signals, targets, recipe, settings, seed, validate=None, description="training",
                standardise=None, groups=None):
    """Train `model` in place on the device of `signals`; return the history.

    signals: the training records on the training device, ResidentRecords (training/crops.py: records of
    any length, at least one crop long; the benchmark would silently leave a shorter one out, here it is
    an error) or a (records, leads, time) float32 tensor; targets: (records, labels).
    standardise: optional `batch -> batch` applied to every batch of crops (the task's scaler), so the
    device holds the raw signals and no standardised copy of them exists anywhere.
    validate: optional `model -> validation macro-AUC`, called every `settings.val_every` epochs and the
    last, and every epoch when the recipe keeps its best checkpoint (whose weights are then restored).
    History: per-epoch training loss, (epoch, validation AUC) pairs, and the epoch whose weights are kept.
    groups: [(parameters, max_lr)] to train, each at its own peak rate (make_optimizer); default all at the recipe's.
    Raises NonFiniteLossError naming the epoch if the loss stops being finite.
    """
    signals = signals if isinstance(signals, ResidentRecords) else ResidentRecords.of_tensor(signals)
    device = signals.device
    epochs = settings.epochs_for(recipe)
    n_records = len(signals)
    batch_size = min(settings.batch_size, n_records)
    steps_per_epoch = n_records // batch_size
    window = recipe.window(settings.sampling_frequency)
    if signals.shortest < window:
        raise ValueError(f"a training record of {signals.shortest} samples is shorter than one crop of {window}")
    optimizer, schedule = make_optimizer(model, recipe, epochs * steps_per_epoch, groups=groups)
    generator = torch.Generator(device=device).manual_seed(seed)
    targets = torch.as_tensor(targets, dtype=torch.float32, device=device)
    keep_best = recipe.checkpoint == "best_val_auc"
    if keep_best and validate is None:
        raise ValueError("a recipe that keeps its best validation checkpoint needs `validate`")
    every = 1 if keep_best else settings.val_every
    history = {"train_loss": [], "val_auc": [], "kept_epoch": epochs}
    best_auc, best_state = -np.inf, None
    for epoch in tqdm(range(1, epochs + 1), desc=description, leave=False, disable=not settings.progress):
        model.train()
        order = torch.randperm(n_records, device=device, generator=generator)
        loss_sum = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            rows = order[step * batch_size:(step + 1) * batch_size]
            batch = random_crops(signals, rows, window, generator)
            if standardise is not None:
                batch = standardise(batch)
            loss_sum += training_step(model, batch, targets[rows], optimizer, schedule, recipe.clip,
                                      settings.precision)
        epoch_loss = loss_sum.item() / steps_per_epoch
        if not np.isfinite(epoch_loss):
            raise NonFiniteLossError(f"the training loss became {epoch_loss} in epoch {epoch}")
        history["train_loss"].append(epoch_loss)
        if validate is not None and every and (epoch % every == 0 or epoch == epochs):
            auc = validate(model)
            history["val_auc"].append((epoch, auc))
            if keep_best and auc > best_auc:
                best_auc, best_state = auc, copy.deepcopy(model.state_dict())
                history["kept_epoch"] = epoch
    if keep_best:
        model.load_state_dict(best_state)
    return history
