"""A whole UniCon run (`uc`) or HMW + UniCon run (`hmw+uc`): two networks, warm-up, then per epoch two
selections and two semi-supervised passes, the ensemble's test, a checkpoint.

As the HMW authors' main loop (the reference's README, sections 1 to 4, with its fixes of section 7):
- a warm-up epoch (epoch < warm_up) trains net1 and then net2 one pass each over its own shuffle of
  the training set (batches of `warmup_batch_size`, the last smaller one kept, the weak view) with
  `unicon_warmup_step`;
- a later epoch computes every sample's JSD from both networks, selects net1's labelled set (threshold,
  selection rate, uniform selection) and trains net1 for `len(labelled) // batch_size` iterations of
  `unicon_train_step` with net2 co-guessing; then selects again, now with net1 in training mode as the
  authors' `train()` leaves it (its BatchNorm layers normalise each JSD batch of 100 with that batch's
  statistics and update their running ones), and trains net2 with net1 co-guessing;
- every epoch ends with the ensemble's test accuracy (the mean of the two softmaxes) and one step of
  each network's MultiStepLR.

The labelled loader is shuffled and drops its incomplete last batch; the unlabelled loader's batch is
int(batch_size / (2 SR)), shuffled, incomplete batch dropped, and it starts again with a new shuffle when
it runs out. A selection rate of 0 or an unlabelled set smaller than its batch (the authors' division by
zero and StopIteration, D7) stops the run with a UserError naming the epoch and the network. A labelled
set smaller than one batch trains that network for no iteration, as the authors' loop does.

Everything stays on the device: the uint8 images, the index batches, the views (training/unicon_views.py).
Every random draw (shuffles, views, the Beta(4, 4) mix rates, MixMatch's permutations, the HMW head's
deletions) comes from one `torch.Generator` seeded with the run's seed (the authors' numpy was never
seeded, D3); a Beta(4, 4) draw is G1 / (G1 + G2) with G1, G2 ~ Gamma(4) each the sum of four standard
exponentials, -log of uniforms, in float64: exact and seeded.

Precision: UniCon trains in float32 under every `settings.precision` (TF32 convolutions where the run
allows them), never under bf16 autocast. Its step (training/unicon.py) computes the contrastive loss's
similarities at temperature 0.05 and the HMW mixup weights at beta = 100 from the same forward passes;
under autocast the similarity matmul runs in bf16, whose rounding (2^-9 of a similarity) becomes up to
0.04 in a logit of up to 20, and the weights exponentiate 100 times differences of cosines between
bf16 features and the classes. The step cannot opt out of autocast piecewise, so the loop does not enter it.
The JSD and the test run in float32 as every evaluation does.

After every epoch a checkpoint (both networks with their heads, both optimisers and schedules, the
generator's state, the reports, the epoch and the run's `identity`) is written atomically; a run started
with the same checkpoint path continues after its last finished epoch and ends with the same numbers as
an uninterrupted one.
"""
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from code_used_upload.errors import UserError
from code_used_upload.models.unicon import noisy_label_jsd, refinement_weights, selection_threshold, uniform_selection
from code_used_upload.training.augment import normalise
from code_used_upload.training.loop import NonFiniteLossError
from code_used_upload.training.noisy_labels import batches, save_atomically
from code_used_upload.training.unicon import unicon_train_step, unicon_warmup_step
from code_used_upload.training.unicon_views import UNICON_VIEWS, unicon_view

EVAL_BATCH = 100   # the authors' JSD and test batches: net1's BatchNorm sees batches of 100 in the second JSD pass
BETA_SHAPE = 4     # MixMatch's Beta(4, 4) (the authors' --alpha)


@dataclass(frozen=True)
class UniConRecipe:
    """How a UniCon run trains: the authors' CIFAR defaults but for the length and the views.

    `epochs` is the number of epochs the run trains: the authors' loop runs 0..num_epochs, so a caller
    following them passes num_epochs + 1 (251 for CIFAR). `warm_up` epochs (10 for CIFAR-10, 30 for
    CIFAR-100) train without selection. The learning rate drops by `gamma` at each epoch of `milestones`.
    `confidence_penalty`: the NegEntropy term of the warm-up under asymmetric noise.
    """
    epochs: int
    warm_up: int
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 5e-4
    milestones: tuple = (125, 200)
    gamma: float = 0.1
    batch_size: int = 64
    warmup_batch_size: int = 128
    weak_view: str = "crop_flip"
    strong_view: str = "cifar10_policy"
    confidence_penalty: bool = False
    d_u: float = 0.7
    tau: float = 5.0

    def __post_init__(self):
        if not 0 <= self.warm_up <= self.epochs:
            raise UserError(f"UniCon warm_up {self.warm_up} must be within 0..epochs ({self.epochs})")
        for field, name in (("weak_view", self.weak_view), ("strong_view", self.strong_view)):
            if name not in UNICON_VIEWS:
                raise UserError(f"UniCon {field} {name!r}: use one of {', '.join(UNICON_VIEWS)}")


@dataclass(frozen=True)
class Selection:
    """One network's selection, made just before that network's semi-supervised pass.

    network: 1 or 2, the network trained on it; jsd: (N,) float64, every training sample's JSD;
    threshold and selection_rate as `selection_threshold` gives them; labelled and unlabelled: int64
    ascending indices into the training set, as `uniform_selection` gives them. Tensors on the device.
    """
    network: int
    jsd: torch.Tensor
    threshold: float
    selection_rate: float
    labelled: torch.Tensor
    unlabelled: torch.Tensor


class _TrainingSet:
    """The resident uint8 training images, their noisy labels and the run's generator: what batches and
    views are cut from."""

    def __init__(self, data, labels, generator, device):
        self.images = torch.as_tensor(data.train_images, device=device)
        self.labels = torch.as_tensor(labels, dtype=torch.int64, device=device)
        self.mean, self.std = data.mean, data.std
        self.num_classes = data.num_classes
        self.generator = generator
        self.device = device

    def __len__(self):
        return len(self.images)

    def shuffle(self, size):
        return torch.randperm(size, device=self.device, generator=self.generator)

    def view(self, name, rows):
        return unicon_view(name, self.images, rows, self.mean, self.std, self.generator)

    def four_views(self, rows_x, rows_u, setup):
        """(weak, weak, strong, strong) of the labelled rows and of the unlabelled rows, every view drawn
        independently per sample: the weak ones made by one call and the strong ones by another."""
        rows = torch.cat([rows_x, rows_x, rows_u, rows_u])
        sizes = [len(rows_x), len(rows_x), len(rows_u), len(rows_u)]
        x1, x2, u1, u2 = self.view(setup.weak_view, rows).split(sizes)
        x3, x4, u3, u4 = self.view(setup.strong_view, rows).split(sizes)
        return (x1, x2, x3, x4), (u1, u2, u3, u4)

    def beta_draws(self, count):
        """`count` exact Beta(4, 4) draws as floats: G1 / (G1 + G2), each Gamma(4) the sum of four Exp(1)."""
        uniforms = 1 - torch.rand(count, 2, BETA_SHAPE, dtype=torch.float64, device=self.device,
                                  generator=self.generator)   # (0, 1]: log never -inf
        gammas = -torch.log(uniforms).sum(dim=2)
        return (gammas[:, 0] / gammas.sum(dim=1)).tolist()

    def endless_batches(self, indices, batch_size):
        """Shuffled full batches of `indices`, a new shuffle each time they run out (the unlabelled loader)."""
        while True:
            order = indices[self.shuffle(len(indices))]
            for start in range(0, len(order) - batch_size + 1, batch_size):
                yield order[start:start + batch_size]


def train_unicon(method, net1, net2, data, labels, setup, settings, seed, device, checkpoint_path=None,
                 on_epoch=None, description="training", identity=None):
    """Train the two UniConNets `net1`, `net2` (both of `method`, on `device`) in place on `data` (an
    ImageData) with `labels`, the noisy training labels, as `setup` (a UniConRecipe) says; returns the
    list of per-epoch reports.

    Each report is a dict: `epoch` (1-based, as the project's epochs.csv), `lr` (this epoch's), `test_acc`
    (the ensemble's), `net{k}_loss` (the network's mean warm-up loss or UniCon loss over the epoch's
    iterations; None without iterations), and per network k = 1, 2 its selection's `net{k}_threshold`,
    `net{k}_selection_rate`, `net{k}_labelled` (the labelled set's size) and `net{k}_iterations` (None in
    the warm-up: an empty cell of a csv, and a report compares equal to itself after a resume), updated
    with what `on_epoch` returns.

    `on_epoch(epoch, net1, net2, selections)` is called after each epoch's test, before the schedules'
    step and the checkpoint: `epoch` 0-based; the networks as trained, in eval mode (the loop sets the
    modes it needs itself; on_epoch must leave their parameters and BatchNorm statistics alone);
    `selections` the epoch's two `Selection`s, net1's then net2's (an empty tuple in warm-up epochs).
    It returns a dict of further report columns, e.g. each labelled set's precision and recall against
    the clean labels, which the loop does not know; plain Python values (the checkpoint is read back
    with weights_only, which refuses numpy scalars). An exception it raises stops the run; the
    checkpoint then holds the epoch before. `settings` gives `progress` (a progress bar), labelled with
    `description`.
    """
    nets = (net1, net2)
    if any(net.method != method for net in nets):
        raise ValueError(f"train_unicon({method!r}) got networks of {net1.method!r} and {net2.method!r}")
    train_set = _TrainingSet(data, labels, torch.Generator(device=device).manual_seed(seed), device)
    test_images = torch.as_tensor(data.test_images, device=device)
    test_labels = torch.as_tensor(data.test_labels, dtype=torch.int64, device=device)
    optimizers = [torch.optim.SGD(net.parameters(), lr=setup.lr, momentum=setup.momentum,
                                  weight_decay=setup.weight_decay) for net in nets]
    schedules = [torch.optim.lr_scheduler.MultiStepLR(optimizer, list(setup.milestones), gamma=setup.gamma)
                 for optimizer in optimizers]
    reports, start = [], 0
    if checkpoint_path is not None and Path(checkpoint_path).is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        for k in range(2):
            nets[k].load_state_dict(state["nets"][k])
            optimizers[k].load_state_dict(state["optimizers"][k])
            schedules[k].load_state_dict(state["schedules"][k])
        train_set.generator.set_state(state["generator"].cpu())
        reports, start = list(state["reports"]), int(state["epoch"]) + 1
    for epoch in tqdm(range(start, setup.epochs), desc=description, leave=False, disable=not settings.progress,
                      initial=start, total=setup.epochs):
        report = {"epoch": epoch + 1, "lr": optimizers[0].param_groups[0]["lr"]}
        selections = ()
        if epoch < setup.warm_up:
            for k in range(2):
                report[f"net{k + 1}_loss"] = _warm_up(k + 1, nets[k], optimizers[k], train_set, epoch, setup)
                report.update(_selection_columns(k + 1, None, None))
        else:
            net1.eval()
            net2.eval()        # the previous epoch's test left both so
            first = _select(1, net1, net2, train_set, epoch, setup)
            report["net1_loss"], iterations = _train(net1, net2, optimizers[0], first, train_set, epoch, setup)
            report.update(_selection_columns(1, first, iterations))
            net1.train()       # as the authors' train() leaves it; net2 stays in eval mode
            second = _select(2, net1, net2, train_set, epoch, setup)
            report["net2_loss"], iterations = _train(net2, net1, optimizers[1], second, train_set, epoch, setup)
            report.update(_selection_columns(2, second, iterations))
            selections = (first, second)
        report["test_acc"] = _ensemble_accuracy(net1, net2, test_images, test_labels, data.mean, data.std)
        if on_epoch is not None:
            report.update(on_epoch(epoch, net1, net2, selections))
        reports.append(report)
        for schedule in schedules:
            schedule.step()
        if checkpoint_path is not None:
            save_atomically({"nets": [net.state_dict() for net in nets],
                             "optimizers": [optimizer.state_dict() for optimizer in optimizers],
                             "schedules": [schedule.state_dict() for schedule in schedules],
                             "generator": train_set.generator.get_state(),
                             "device": train_set.generator.device.type, "reports": reports, "epoch": epoch,
                             "identity": identity}, checkpoint_path)
    return reports


def _warm_up(network, net, optimizer, train_set, epoch, setup):
    """One warm-up epoch of `net` over its own shuffle; returns the mean loss over the samples."""
    total = 0.0
    for rows in batches(train_set.shuffle(len(train_set)), min(setup.warmup_batch_size, len(train_set))):
        images = train_set.view(setup.weak_view, rows)
        total += len(rows) * unicon_warmup_step(net, optimizer, images, train_set.labels[rows], rows, epoch,
                                                setup.confidence_penalty)
    return _finite(total / len(train_set), network, epoch)


def _finite(loss, network, epoch):
    """The epoch's mean loss, or NonFiniteLossError when it became NaN or infinite."""
    if not math.isfinite(loss):
        raise NonFiniteLossError(f"net{network}'s training loss became {loss} in epoch {epoch}")
    return loss


@torch.no_grad()
def _logits(net, images, mean, std):
    """(N, C) logits of `net` in the mode it is in, batches of EVAL_BATCH in order, images only normalised."""
    return torch.cat([net(normalise(images[start:start + EVAL_BATCH], mean, std))
                      for start in range(0, len(images), EVAL_BATCH)])


def _select(network, net1, net2, train_set, epoch, setup):
    """The selection for `network` (1 or 2) from both networks' JSD, in the modes they are in."""
    logits1 = _logits(net1, train_set.images, train_set.mean, train_set.std)
    logits2 = _logits(net2, train_set.images, train_set.mean, train_set.std)
    jsd = noisy_label_jsd(logits2, logits1, train_set.labels)
    try:
        threshold, rate = selection_threshold(jsd, setup.d_u, setup.tau)
    except UserError as error:
        raise UserError(f"epoch {epoch}, selection for net{network}: {error}") from None
    labelled, unlabelled = uniform_selection(jsd, train_set.labels, train_set.num_classes, rate)
    return Selection(network, jsd, threshold, rate, labelled, unlabelled)


def _train(net, other, optimizer, selection, train_set, epoch, setup):
    """One semi-supervised pass of `net` with `other` co-guessing; returns (mean loss or None, iterations)."""
    labelled, unlabelled = selection.labelled, selection.unlabelled
    batch_u = int(setup.batch_size / (2 * selection.selection_rate))
    if len(unlabelled) < batch_u:
        raise UserError(f"epoch {epoch}, net{selection.network}: the unlabelled set has {len(unlabelled)} samples, "
                        f"fewer than its batch of {batch_u} (int({setup.batch_size} / (2 x selection rate "
                        f"{selection.selection_rate:.4g}))): no unlabelled batch can be made; use a larger training "
                        f"set or a smaller batch_size")
    weights = refinement_weights(selection.jsd[labelled]).float()
    iterations = len(labelled) // setup.batch_size
    num_iter = iterations + 1          # the authors' ramp counts one more than it runs
    order = train_set.shuffle(len(labelled))
    mix_draws = train_set.beta_draws(iterations)
    unlabelled_batches = train_set.endless_batches(unlabelled, batch_u)
    total = torch.zeros((), dtype=torch.float64, device=train_set.device)
    for k in range(iterations):
        positions = order[k * setup.batch_size:(k + 1) * setup.batch_size]
        rows_x, rows_u = labelled[positions], next(unlabelled_batches)
        views_x, views_u = train_set.four_views(rows_x, rows_u, setup)
        mixed_rows = 2 * (len(rows_x) + len(rows_u))
        perm = train_set.shuffle(mixed_rows)
        drop_pos = (torch.randint(0, train_set.num_classes - 1, (mixed_rows,), device=train_set.device,
                                  generator=train_set.generator) if net.weighted else None)
        step = unicon_train_step(net, other, optimizer, views_x, train_set.labels[rows_x], weights[positions],
                                 views_u, epoch=epoch, batch_idx=k, num_iter=num_iter, warm_up=setup.warm_up,
                                 beta_draw=mix_draws[k], perm=perm, drop_pos=drop_pos)
        total += step["loss"]
    if not iterations:
        return None, 0
    return _finite(total.item() / iterations, selection.network, epoch), iterations


def _selection_columns(network, selection, iterations):
    """A network's selection columns of the report; None in the warm-up."""
    if selection is None:
        return {f"net{network}_{key}": None for key in ("threshold", "selection_rate", "labelled", "iterations")}
    return {f"net{network}_threshold": selection.threshold, f"net{network}_selection_rate": selection.selection_rate,
            f"net{network}_labelled": len(selection.labelled), f"net{network}_iterations": iterations}


@torch.no_grad()
def _ensemble_accuracy(net1, net2, images, labels, mean, std):
    """Top-1 accuracy of the mean of the two networks' softmaxes, both in eval mode."""
    net1.eval()
    net2.eval()
    probabilities = (torch.softmax(_logits(net1, images, mean, std), dim=1)
                     + torch.softmax(_logits(net2, images, mean, std), dim=1)) / 2
    return float((probabilities.argmax(dim=1) == labels).double().mean())
