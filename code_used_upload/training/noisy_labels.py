"""The training loop of learning with noisy labels: one label per image, a weight per sample from the
model's head, the whole set resident on the device, a checkpoint after every epoch.

As the HMW authors' `standard` trainer: every epoch visits every training image once in a shuffled
order, in batches of the run's size with the last, smaller batch kept (their DataLoader's default), so
that the head sees each sample once per epoch; the recipe's optimiser and schedule; the model's loss
(`model.loss`), which weights the samples once the recipe's unweighted epochs are over. Batches are cut
from the uint8 images on the device and augmented there as the recipe's view says (training/augment.py).
Beside the training, the loop keeps each sample's raw-logit margin summed over the epochs (Pleiss et
al.'s AUM, the reference point of the weights) twice: over every epoch, and over the epochs before the
first learning-rate drop, the horizon AUM's authors use (their margins are recorded until the first
drop, before the network memorises the noise). Every finished epoch goes to `on_epoch`, which evaluates
and reports.

A checkpoint (model with its head's state, optimiser, schedule, the batch generator, the margins, the
reports so far and the run's identity) is written after every epoch, atomically; a run started with the
same checkpoint path continues after its last epoch and ends with the same weights and numbers as an
uninterrupted one. Whether the checkpoint belongs to the same settings and device type is the caller's
question (`checkpoint_identity`), asked before anything trains: the batches are drawn on the device, and a
CUDA generator's state cannot continue on a CPU (nor the reverse).
"""
import math
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from code_used_upload.training.augment import view
from code_used_upload.training.device import training_autocast
from code_used_upload.training.loop import NonFiniteLossError, make_optimizer


class MarginTracker:
    """Each training sample's raw-logit margin z_y - max_{c != y} z_c, summed over its visits: the area
    under the margin (AUM, Pleiss et al. 2020) is that sum divided by the visits. Kept over every epoch
    (`aum`) and over the epochs before `first_drop` (`aum_first_drop`), the first learning-rate milestone."""

    def __init__(self, size, device, first_drop=None):
        self.first_drop = first_drop  # None: no drop, both horizons are every epoch
        self.sums = torch.zeros(2, size, dtype=torch.float64, device=device)  # every epoch, before the drop
        self.visits = torch.zeros(2, size, dtype=torch.int64, device=device)

    @torch.no_grad()
    def add(self, raw_logits, labels, index, epoch):
        raw_logits = raw_logits.float()
        assigned = raw_logits.gather(1, labels[:, None]).squeeze(1)
        others = raw_logits.scatter(1, labels[:, None], -torch.inf).amax(dim=1)
        margins = (assigned - others).double()
        horizons = 1 if self.first_drop is not None and epoch >= self.first_drop else 2
        for horizon in range(horizons):
            self.sums[horizon].index_add_(0, index, margins)
            self.visits[horizon].index_add_(0, index, torch.ones_like(index))

    def aum(self):
        """(N,) float64 mean margin per sample over every epoch; NaN for a sample never visited."""
        return (self.sums[0] / self.visits[0]).cpu().numpy()

    def aum_first_drop(self):
        """(N,) float64 mean margin per sample over the epochs before the first learning-rate drop."""
        return (self.sums[1] / self.visits[1]).cpu().numpy()

    def state_dict(self):
        return {"sums": self.sums, "visits": self.visits}

    def load_state_dict(self, state):
        self.sums.copy_(state["sums"])
        self.visits.copy_(state["visits"])


def batches(order, batch_size):
    """Consecutive slices of `order`, the last one smaller when the size does not divide."""
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


CUDA_GENERATOR_STATE = 16  # bytes of a CUDA generator's state (its seed and offset); a CPU one holds 5,056


def checkpoint_identity(checkpoint_path):
    """(identity, device type) recorded in a checkpoint, read before resuming from it: the identity None if it
    has none; the type ("cpu", "cuda") of the device whose random generator drew its batches, None where it
    holds no generator (cleanlab's finished folds). A generator continues only on its own device type."""
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    generator = state.get("generator")
    device = state.get("device") or (None if generator is None else
                                     "cuda" if generator.numel() == CUDA_GENERATOR_STATE else "cpu")
    return state.get("identity"), device


def train_noisy_labels(model, data, labels, recipe, settings, seed, device, checkpoint_path=None, on_epoch=None,
                       description="training", identity=None):
    """Train `model` in place on `data` (an ImageData) with `labels` (the noisy training labels); returns the
    list of what `on_epoch(epoch, model, margins, train_loss)` returned for each epoch (its reports) and the
    MarginTracker.

    The images live on `device` as uint8; training batches are augmented as `recipe.augment` says,
    test batches only normalised. With `checkpoint_path`, training resumes after the checkpoint's epoch
    when the file exists, and writes it, with `identity`, after every epoch.
    """
    images = torch.as_tensor(data.train_images, device=device)
    labels = torch.as_tensor(labels, dtype=torch.int64, device=device)
    size, epochs = len(images), settings.epochs_for(recipe)
    batch_size = min(settings.batch_for(recipe), size)
    steps_per_epoch = math.ceil(size / batch_size)
    optimizer, schedule = make_optimizer(model, recipe, epochs * steps_per_epoch, steps_per_epoch)
    generator = torch.Generator(device=device).manual_seed(seed)
    margins = MarginTracker(size, device, first_drop=min(recipe.milestones, default=None))
    reports, start = [], 0
    if checkpoint_path is not None and Path(checkpoint_path).is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"].cpu())
        margins.load_state_dict(state["margins"])
        reports, start = list(state["reports"]), int(state["epoch"]) + 1
    for epoch in tqdm(range(start, epochs), desc=description, leave=False, disable=not settings.progress,
                      initial=start, total=epochs):
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        for rows in batches(torch.randperm(size, device=device, generator=generator), batch_size):
            batch = view(recipe.augment, images, rows, data.mean, data.std, generator)
            targets = labels[rows]
            with training_autocast(device, settings.precision):
                logits, raw, weights = model.training_outputs(batch, targets, rows, epoch)
            loss = model.loss(logits, weights, targets, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            margins.add(raw.detach(), targets, rows, epoch)
            loss_sum += loss.detach() * len(rows)
        train_loss = loss_sum.item() / size
        if not np.isfinite(train_loss):
            raise NonFiniteLossError(f"the training loss became {train_loss} in epoch {epoch}")
        reports.append(on_epoch(epoch, model, margins, train_loss) if on_epoch else {"train_loss": train_loss})
        if checkpoint_path is not None:
            save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "schedule": schedule.state_dict(), "generator": generator.get_state(),
                              "device": generator.device.type, "margins": margins.state_dict(), "reports": reports,
                              "epoch": epoch, "identity": identity}, checkpoint_path)
    return reports, margins


def save_atomically(state, path):
    """torch.save to a temporary name, then rename: a run killed while saving keeps the previous checkpoint."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    torch.save(state, partial)
    os.replace(partial, path)

