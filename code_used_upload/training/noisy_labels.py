"""The training loop of learning with noisy labels: one label per image, a weight per sample from the
model's head, the whole set resident on the device, a checkpoint after every epoch.

As the HMW authors' `standard` trainer: every epoch visits every training image once in a shuffled
order, in batches of the run's size with the last, smaller batch kept (their DataLoader's default), so
that the head sees each sample once per epoch; the recipe's optimiser and schedule; the model's loss
(`model.loss`), which weights the samples once the recipe's unweighted epochs are over. Batches are cut
from the uint8 images on the device and augmented there (training/augment.py). Beside the training, the
loop keeps each sample's raw-logit margin summed over the epochs (Pleiss et al.'s AUM, the reference
point of the weights) and hands every finished epoch to `on_epoch`, which evaluates and reports.

A checkpoint (model with its head's state, optimiser, schedule, the batch generator, the margins and
the reports so far) is written after every epoch, atomically; a run started with the same checkpoint
path continues after its last epoch and ends with the same weights and numbers as an uninterrupted one.
"""
import math
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from code_used_upload.training.augment import augment, normalise
from code_used_upload.training.device import training_autocast
from code_used_upload.training.loop import NonFiniteLossError, make_optimizer


class MarginTracker:
    """Each training sample's raw-logit margin z_y - max_{c != y} z_c, summed over its visits: the area
    under the margin (AUM, Pleiss et al. 2020) is that sum divided by the visits."""

    def __init__(self, size, device):
        self.sums = torch.zeros(size, dtype=torch.float64, device=device)
        self.visits = torch.zeros(size, dtype=torch.int64, device=device)

    @torch.no_grad()
    def add(self, raw_logits, labels, index):
        raw_logits = raw_logits.float()
        assigned = raw_logits.gather(1, labels[:, None]).squeeze(1)
        others = raw_logits.scatter(1, labels[:, None], -torch.inf).amax(dim=1)
        self.sums.index_add_(0, index, (assigned - others).double())
        self.visits.index_add_(0, index, torch.ones_like(index))

    def aum(self):
        """(N,) float64 mean margin per sample; NaN for a sample never visited."""
        return (self.sums / self.visits).cpu().numpy()

    def state_dict(self):
        return {"sums": self.sums, "visits": self.visits}

    def load_state_dict(self, state):
        self.sums.copy_(state["sums"])
        self.visits.copy_(state["visits"])


def batches(order, batch_size):
    """Consecutive slices of `order`, the last one smaller when the size does not divide."""
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def train_noisy_labels(model, data, labels, recipe, settings, seed, device, checkpoint_path=None, on_epoch=None,
                       description="training"):
    """Train `model` in place on `data` (an ImageData) with `labels` (the noisy training labels); returns the
    list of what `on_epoch(epoch, model, margins, train_loss)` returned for each epoch (its reports) and the
    MarginTracker.

    The images live on `device` as uint8; training batches are augmented as `recipe.augment` says,
    test batches only normalised. With `checkpoint_path`, training resumes after the checkpoint's epoch
    when the file exists, and writes it after every epoch.
    """
    images = torch.as_tensor(data.train_images, device=device)
    labels = torch.as_tensor(labels, dtype=torch.int64, device=device)
    size, epochs = len(images), settings.epochs_for(recipe)
    batch_size = min(settings.batch_for(recipe), size)
    steps_per_epoch = math.ceil(size / batch_size)
    optimizer, schedule = make_optimizer(model, recipe, epochs * steps_per_epoch, steps_per_epoch)
    generator = torch.Generator(device=device).manual_seed(seed)
    margins = MarginTracker(size, device)
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
            if recipe.augment == "crop_flip":
                batch = augment(images, rows, data.mean, data.std, generator)
            else:
                batch = normalise(images.index_select(0, rows), data.mean, data.std)
            targets = labels[rows]
            with training_autocast(device, settings.precision):
                logits, raw, weights = model.training_outputs(batch, targets, rows, epoch)
            loss = model.loss(logits, weights, targets, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            margins.add(raw.detach(), targets, rows)
            loss_sum += loss.detach() * len(rows)
        train_loss = loss_sum.item() / size
        if not np.isfinite(train_loss):
            raise NonFiniteLossError(f"the training loss became {train_loss} in epoch {epoch}")
        reports.append(on_epoch(epoch, model, margins, train_loss) if on_epoch else {"train_loss": train_loss})
        if checkpoint_path is not None:
            _save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "schedule": schedule.state_dict(), "generator": generator.get_state(),
                              "margins": margins.state_dict(), "reports": reports, "epoch": epoch}, checkpoint_path)
    return reports, margins


def _save_atomically(state, path):
    """torch.save to a temporary name, then rename: a run killed while saving keeps the previous checkpoint."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    torch.save(state, partial)
    os.replace(partial, path)

