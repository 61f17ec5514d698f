"""The benchmark's training recipe (fastai 1.0.61 `fit_one_cycle` defaults) in plain PyTorch.

AdamW (decoupled weight decay 1e-2 on every parameter, as fastai's `true_wd`/`bn_wd`), one-cycle
schedule over all steps (30% cosine warm-up from max/25, cosine down to max/25e4, beta1 cycled
0.95 -> 0.85 -> 0.95): exactly `torch.optim.lr_scheduler.OneCycleLR` with its defaults. Each epoch
every training record gives one random 2.5 s crop, in shuffled batches of 128 with the incomplete
last batch dropped. Batches are cut on the training device from one resident tensor.
"""
import contextlib
import random

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from code_used_upload.models.ldm import ldm_loss
from code_used_upload.utils.crops import random_crops
from code_used_upload.utils.errors import UserError
from code_used_upload.utils.inference import predict_records
from code_used_upload.utils.metrics import macro_auc


def autocast_for(device):
    """bf16 autocast for training on CUDA (the LDM loss is still computed in float32); none on CPU,
    which stays float32 and deterministic."""
    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite: the cell stops, the grid goes on."""


def resolve_device(name):
    """`auto` picks CUDA when present; TF32 matmuls are switched on for CUDA runs."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise UserError(f"--device {name}: use auto, cpu or cuda (cuda:N for a given GPU)")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} was asked for, but this torch sees no CUDA GPU "
                            f"(torch {torch.__version__}); use --device cpu or install a CUDA build of torch")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return device


def seed_everything(seed):
    """One seed drives initialisation, crops, shuffling and dropout."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(model, max_lr, weight_decay, total_steps):
    """AdamW + OneCycleLR as fastai's fit_one_cycle(max_lr, wd=weight_decay, moms=(0.95, 0.85))."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=max_lr, betas=(0.95, 0.99), weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps)
    return optimizer, schedule


def training_loss(model, outputs, targets):
    """BCE-with-logits for a baseline; the LDM loss (alpha 1, gamma 0.1, margin 2) for an LDM model."""
    if model.is_ldm:
        logits, embeddings = outputs
        return ldm_loss(logits.float(), embeddings.float(), targets)
    return F.binary_cross_entropy_with_logits(outputs.float(), targets)


def training_step(model, batch, targets, optimizer, schedule, config, device):
    """One step of the recipe: forward (bf16 autocast on CUDA), loss, backward, clipping, update."""
    with autocast_for(device):
        outputs = model(batch)
    loss = training_loss(model, outputs, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config["clip"]:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["clip"])
    optimizer.step()
    schedule.step()
    return loss.detach()


def train_model(model, signals, targets, config, epochs, batch_size, crop, device, seed,
                validation=None, val_every=0, progress=True, description="training"):
    """Train `model` in place; return the history (per-epoch training loss, optional val AUC).

    signals: (records, leads, time) float32 tensor, already on `device`; targets: (records, labels).
    validation: optional (signals, y, window, stride) for a validation macro-AUC every `val_every`
    epochs. Raises NonFiniteLossError naming the epoch if the loss stops being finite.
    """
    n_records = len(signals)
    batch_size = min(batch_size, n_records)
    steps_per_epoch = n_records // batch_size
    optimizer, schedule = make_optimizer(model, config["max_lr"], config["weight_decay"], epochs * steps_per_epoch)
    generator = torch.Generator(device=device).manual_seed(seed)
    targets = torch.as_tensor(targets, dtype=torch.float32, device=device)
    history = {"train_loss": [], "val_auc": []}
    for epoch in tqdm(range(1, epochs + 1), desc=description, leave=False, disable=not progress):
        model.train()
        order = torch.randperm(n_records, device=device, generator=generator)
        loss_sum = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            rows = order[step * batch_size:(step + 1) * batch_size]
            batch = random_crops(signals, rows, crop, generator)
            loss_sum += training_step(model, batch, targets[rows], optimizer, schedule, config, device)
        epoch_loss = loss_sum.item() / steps_per_epoch
        if not np.isfinite(epoch_loss):
            raise NonFiniteLossError(f"the training loss became {epoch_loss} in epoch {epoch}")
        history["train_loss"].append(epoch_loss)
        if validation is not None and val_every and (epoch % val_every == 0 or epoch == epochs):
            val_signals, val_y, window, stride = validation
            val_pred = predict_records(model, val_signals, window, stride, device)
            history["val_auc"].append((epoch, macro_auc(val_y, val_pred)))
    return history
