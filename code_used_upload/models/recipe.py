"""A model's recipe: how it is optimised, for how long, which checkpoint is tested, how windows are pooled.

Registered with its backbone (`register_backbone(..., recipe=...)`), so the trainer and the cell read
every departure from the default here and know no model by name. The default is the PTB-XL
benchmark's (fastai 1.0.61 `fit_one_cycle`): AdamW with betas (0.95, 0.99) and weight decay 1e-2,
one-cycle to `max_lr`, 50 epochs, the weights of the last epoch, 2.5 s windows at a 1.25 s stride
with the maximum over windows. The noisy-label runs (HMW) use the same type for their authors'
recipe: SGD with momentum, a step schedule at epoch milestones, the epochs trained without the
per-sample weights, and the training augmentation of images.
"""
from dataclasses import asdict, dataclass

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("one_cycle", "constant", "multistep")
AUGMENTATIONS = (None, "crop_flip", "shift")
CHECKPOINTS = ("last", "best_val_auc")
AGGREGATIONS = ("max", "mean")


@dataclass(frozen=True)
class Recipe:
    max_lr: float = 1e-2
    weight_decay: float = 1e-2
    betas: tuple = (0.95, 0.99)
    schedule: str = "one_cycle"          # one_cycle (fastai's) or constant (lr = max_lr throughout)
    clip: float = None                   # gradient-norm clipping, None for none
    epochs: int = 50                     # the run's --epochs overrides it for every model
    checkpoint: str = "last"             # last, or best_val_auc: the epoch with the best validation macro-AUC
    window_seconds: float = 2.5          # training crops and evaluation windows
    stride_seconds: float = 1.25         # between evaluation windows
    aggregate: str = "max"               # over a record's windows: max or mean
    optimizer: str = "adamw"             # adamw (betas, decoupled weight decay) or sgd (momentum, L2 weight decay)
    momentum: float = 0.9                # sgd's
    milestones: tuple = ()               # multistep: the epochs at which the learning rate is multiplied by gamma
    gamma: float = 0.1
    batch_size: int = 128                # noisy labels: the run's batch unless it sets one (the ECG runs always do)
    unweighted_epochs: int = 0           # noisy labels: the first epochs train without the per-sample weights
    augment: str = None                  # images: crop_flip (a random crop with zero padding, a horizontal flip)
                                         # or shift (a random offset of up to one pixel, zero-filled); None: none

    def __post_init__(self):
        for field, value, choices in (("optimizer", self.optimizer, OPTIMIZERS),
                                      ("schedule", self.schedule, SCHEDULES),
                                      ("augment", self.augment, AUGMENTATIONS),
                                      ("checkpoint", self.checkpoint, CHECKPOINTS),
                                      ("aggregate", self.aggregate, AGGREGATIONS)):
            if value not in choices:
                raise ValueError(f"Recipe {field}={value!r}: choose one of {', '.join(choices)}")

    def samples(self, seconds, sampling_frequency):
        return int(round(seconds * sampling_frequency))

    def window(self, sampling_frequency):
        """Samples in one crop or evaluation window: 250 at 100 Hz for 2.5 s."""
        return self.samples(self.window_seconds, sampling_frequency)

    def stride(self, sampling_frequency):
        """Samples between evaluation windows: 125 at 100 Hz for 1.25 s."""
        return self.samples(self.stride_seconds, sampling_frequency)

    def to_dict(self):
        return {**asdict(self), "betas": list(self.betas), "milestones": list(self.milestones)}
