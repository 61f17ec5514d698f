"""One noisy-label run resolved once: the flags and the data set turned into the one description of the run that
training, its identity, `cell.json` and the tables all read.

A run asks for a noise setting (`NoiseSetting`, parsed from `<dataset>/<mode><rate>`), a method, a seed and
options (`RunOptions`: the recipe's overrides, cleanlab's folds, for a user's images the network and how
the folder is read; `HMWOptions`: the HMW head's settings), with the epochs, batch and precision of a
RunSettings. `resolve_run` turns them into a `NoisyRun`: the network, the recipe with every override
applied (UniCon's own recipe for uc and hmw+uc, with its view and warm-up), the side the images are
trained at, and only the options the method uses (HMW's for hmw+*, SCE's (a, b) where the loss is SCE,
the folds for cleanlab). Everything a flag can get wrong is refused here, in one line, before anything
is read or trained.

The identity (configs/identity.py) records the resolved run, not the flags as typed: `--lr 0.02` where the
recipe's rate is 0.02 is the same run as no `--lr`, `--alpha_nmw 50` does not concern a cce run, and the
authors' explicit `--num_epochs 250 --milestones 125/200` is their default. Its table part is what every run
of a results table shares (the precision); its cell part the resolved run, the fingerprints of the data
and of the noisy labels.
"""
import hashlib
import math
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from code_used_upload.configs.identity import identity
from code_used_upload.data.cifar_n import LABEL_SETS
from code_used_upload.errors import UserError
from code_used_upload.models.imagenet_resnet import IMAGENET, IMAGENET_MEAN, IMAGENET_STD, check_pretrained, pretrained_name
from code_used_upload.models.noisy import (CLEANLAB, DATASET_SIDES, HMW_PREFIX, IMAGE_FOLDER, UNICON,
                                            UNICON_STRONG_VIEWS, check_dataset, check_method, noisy_setup)
from code_used_upload.training.augment import VIEWS
from code_used_upload.training.settings import RunSettings
from code_used_upload.training.unicon_loop import UniConRecipe

TASK = re.compile(r"(?P<dataset>[a-z0-9]+)/(?:(?P<mode>sym|asym|none)(?P<rate>[0-9.]*)|human-(?P<label_set>[a-z0-9]+))")
HUMAN = "human"  # CIFAR-N's people's labels (data/cifar_n.py): `cifar10/human-worst`, `cifar100/human-noisy`
VIEW_NAMES = {"none" if name is None else name: name for name in VIEWS}  # --augment's words -> the recipe's views
IMAGE_SIZE = 32      # imagefolder: the side, in pixels, every image is resized to
VAL_FRACTION = 0.1   # imagefolder: the share of the images held out, stratified, for the accuracy columns
IDENTITY_VERSION = 2  # 2: the resolved run (1, before: the flags as typed)


@dataclass(frozen=True)
class NoiseSetting:
    dataset: str
    mode: str              # sym, asym, none, or human (CIFAR-N's labels)
    rate: float            # sym, asym: the rate of the noise drawn; 0 otherwise
    label_set: str = None  # human: CIFAR-N's label set (data/cifar_n.py LABEL_SETS)

    @property
    def name(self):
        """The one spelling of the setting: folders, tables and identities use it."""
        if self.mode == HUMAN:
            return f"{self.dataset}/{HUMAN}-{self.label_set}"
        return f"{self.dataset}/none" if self.mode == "none" else f"{self.dataset}/{self.mode}{self.rate:g}"


def parse_task(task):
    """`cifar10/sym0.5`, `imagefolder/none` (rate 0) or `cifar10/human-worst` -> NoiseSetting; a clear error for
    anything else."""
    match = TASK.fullmatch(task)
    if match and match["label_set"] is not None:
        sets = LABEL_SETS.get(match["dataset"], ())
        if match["label_set"] not in sets:
            raise UserError(f"setting {task!r}: CIFAR-N's people's labels are "
                            f"{', '.join(f'{d}/{HUMAN}-{name}' for d, names in LABEL_SETS.items() for name in names)}")
        return NoiseSetting(match["dataset"], HUMAN, 0.0, match["label_set"])
    rate = match["rate"] if match else ""
    if not match or (rate != "" if match["mode"] == "none" else
                     not re.fullmatch(r"\d+(\.\d*)?|\.\d+", rate) or not 0 <= float(rate) <= 1):
        raise UserError(f"setting {task!r}: write <dataset>/<sym|asym><rate>, <dataset>/none or <dataset>/human-<label "
                        f"set>, e.g. cifar10/sym0.5, cifar100/asym0.4, {IMAGE_FOLDER}/none or cifar10/human-worst")
    check_dataset(match["dataset"])
    return NoiseSetting(match["dataset"], match["mode"], float(rate or 0))


def setting_name(task):
    """The one spelling of a setting however it was written: `digits/sym0.40` -> `digits/sym0.4`."""
    return parse_task(task).name


@dataclass(frozen=True)
class HMWOptions:
    """The HMW head's settings (the authors' --alpha_nmw, --beta_nmw, --top_rate_nmw, --if_aum, --if_anneal,
    --if_spherical) and the ablation of its normalised training logits."""
    alpha: float = 100.0
    beta: float = 100.0
    top_rate: float = 0.01
    if_aum: bool = True
    if_anneal: bool = True
    if_spherical: bool = True
    normalize_logits: bool = True

    def __post_init__(self):
        for flag, value in (("--alpha_nmw", self.alpha), ("--beta_nmw", self.beta)):
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"{flag} {value}: HMW's sharpness, a positive number (the authors': 100)")
        if not 0.0 < self.top_rate <= 1.0:
            raise UserError(f"--top_rate_nmw {self.top_rate}: a fraction in (0, 1] of the C - 2 classes HMW averages "
                            f"beyond the nearest rival (the authors': 0.01)")


# the options of a user's own images, refused on CIFAR and the digits, whose images, split and network are fixed
FOLDER_OPTIONS = ("image_size", "val_fraction", "pretrained")


@dataclass(frozen=True)
class RunOptions:
    """What a run asks for beyond the HMW head, None where it leaves the choice to the recipe: the learning
    rate, milestones, view and unweighted epochs; cleanlab's number of folds; for a user's images the
    network, the side the images are resized to, the share held out and the starting weights."""
    lr: float = None
    milestones: tuple = None
    augment: str = None       # none, shift or crop_flip (training/augment.py)
    cv_n_folds: int = 5       # cleanlab: the K of its K-fold out-of-fold probabilities
    warm_up: int = None       # the recipe's unweighted epochs (HMW's weights unused; UniCon's warm-up)
    arch: str = None          # imagefolder: models/noisy.py ARCH_SETUPS (None: by the image size)
    image_size: int = None    # imagefolder: the side every image is resized to (None: IMAGE_SIZE)
    val_fraction: float = None  # imagefolder: the share held out for the accuracy columns (None: VAL_FRACTION)
    pretrained: str = None    # imagefolder, resnet18/50: IMAGENET or a state dict's path (None: from scratch)

    def __post_init__(self):
        if self.augment is not None and self.augment not in VIEW_NAMES:
            raise UserError(f"--augment {self.augment}: use one of {', '.join(VIEW_NAMES)}")
        if self.cv_n_folds < 2:
            raise UserError(f"--cv_n_folds {self.cv_n_folds}: cleanlab's out-of-fold probabilities need at least 2 folds")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"--lr {self.lr}: a positive learning rate (the recipe's: 0.02)")
        if self.milestones is not None and any(epoch < 1 for epoch in self.milestones):
            raise UserError(f"--milestones {'/'.join(map(str, self.milestones))}: epochs from 1 on, after which the "
                            f"learning rate drops")
        if self.warm_up is not None and self.warm_up < 0:
            raise UserError(f"--warm_up {self.warm_up}: the number of unweighted epochs, 0 or more")
        if self.image_size is not None and self.image_size < 1:
            raise UserError(f"--image_size {self.image_size}: give the side in pixels, at least 1, that every image is "
                            f"resized to")
        if self.val_fraction is not None and not 0.0 < self.val_fraction < 1.0:
            raise UserError(f"--val_fraction {self.val_fraction}: a fraction strictly between 0 and 1, the images held "
                            f"out to measure accuracy on")


@dataclass(frozen=True)
class NoisyRun:
    """A run as it trains: its setting, method and seed, the network, the recipe with every override applied
    (a UniConRecipe for uc and hmw+uc), the side of its images, and only the options its method uses."""
    setting: NoiseSetting
    method: str
    seed: int
    arch: str
    recipe: object            # models/recipe.Recipe, or training/unicon_loop.UniConRecipe for uc, hmw+uc
    image_size: int
    sce: tuple = None         # SCE's (a, b), where the loss is SCE
    hmw: HMWOptions = None    # hmw+*: the head's settings
    cv_n_folds: int = None    # cleanlab: its folds
    val_fraction: float = None  # imagefolder: the share held out
    pretrained: str = None    # resnet18/50: IMAGENET or a state dict's path
    cpu_threads: int = None   # the network's CPU threads unless the run says otherwise (None: every core)
    data_path: str = None     # human: the folder of CIFAR-N's label file (data/cifar_n.py)

    @property
    def unicon(self):
        return self.method in UNICON

    @property
    def trained_method(self):
        """The method its network trains with: cleanlab's final training is cce's."""
        return "cce" if self.method == CLEANLAB else self.method

    @property
    def confidence_penalty(self):
        """The authors' penalty on confident predictions, under asymmetric noise."""
        return self.setting.mode == "asym"

    @property
    def epochs(self):
        return self.recipe.epochs

    def normalisation(self, data):
        """The (mean, std) the batches are normalised with: the data's own, or ImageNet's from its weights
        (their mean over R, G and B for grey images, which the adapted stem sees repeated into three)."""
        if self.pretrained is None:
            return data.mean, data.std
        if len(data.mean) == 1:
            return (sum(IMAGENET_MEAN) / 3,), (sum(IMAGENET_STD) / 3,)
        return IMAGENET_MEAN, IMAGENET_STD

    def record(self):
        """The run as cell.json and its identity record it: plain JSON values, the options only where used."""
        setting = self.setting
        recipe = asdict(self.recipe) if self.unicon else self.recipe.to_dict()
        if not self.unicon and self.hmw is None:  # no weights: the epochs before them change nothing
            del recipe["unweighted_epochs"]
        noise = {"label_set": setting.label_set} if setting.mode == HUMAN else {"r": setting.rate}
        record = {"dataset": setting.dataset, "noise_mode": setting.mode, **noise, "method": self.method,
                  "seed": self.seed, "arch": self.arch, "image_size": self.image_size, "recipe": recipe}
        if self.sce is not None:
            record["sce"] = list(self.sce)
        if self.hmw is not None:
            record["hmw"] = asdict(self.hmw)
        if self.cv_n_folds is not None:
            record["cv_n_folds"] = self.cv_n_folds
        if self.val_fraction is not None:
            record["val_fraction"] = self.val_fraction
        if self.pretrained is not None:
            record["pretrained"] = pretrained_name(self.arch, self.pretrained)
            if self.pretrained != IMAGENET:
                record["pretrained_sha256"] = hashlib.sha256(Path(self.pretrained).expanduser().read_bytes()).hexdigest()
        return record

    def identity(self, settings, data_sha256, noise_sha256):
        """What makes the run's numbers (configs/identity.py): the precision every run of a table shares, and
        the resolved run with the fingerprints of its data and of its noisy labels."""
        return identity({"precision": settings.precision},
                        {**self.record(), "data_sha256": data_sha256, "noise_sha256": noise_sha256},
                        version=IDENTITY_VERSION)


def resolve_run(setting, method, seed, options=RunOptions(), hmw=HMWOptions(), settings=RunSettings(batch_size=None),
                data_path=None):
    """The NoisyRun of `method` and `seed` under `setting` with `options`, `hmw` and the epochs and batch of
    `settings` (None: the recipe's), its data set under `data_path`; a UserError for any combination that
    cannot run."""
    check_method(method)
    if not 0 <= seed < 2**32:
        raise UserError(f"--seed {seed}: an integer from 0 to 2**32 - 1 (it seeds numpy's and torch's generators)")
    dataset = setting.dataset
    own_images = dataset == IMAGE_FOLDER
    if not own_images:
        given = [f"--{name} {getattr(options, name)}" for name in FOLDER_OPTIONS if getattr(options, name) is not None]
        if given:
            raise UserError(f"{' and '.join(given)}: for your own images (--dataset {IMAGE_FOLDER}); {dataset}'s images, "
                            f"split and network are fixed")
    side = (IMAGE_SIZE if options.image_size is None else options.image_size) if own_images else DATASET_SIDES[dataset]
    setup = noisy_setup(dataset, options.arch, side)
    unicon = method in UNICON
    if options.pretrained is not None:
        if setup.pretrained_recipe is None:
            raise UserError(f"--pretrained: {setup.arch} has no pretrained weights; use --arch resnet18 or resnet50")
        if options.pretrained != IMAGENET:
            check_pretrained(setup.arch, options.pretrained)
        base = setup.pretrained_unicon_recipe if unicon else setup.pretrained_recipe
    else:
        base = setup.unicon_recipe if unicon else setup.recipe
    view = setup.view_for(base.augment, side) if options.augment is None else VIEW_NAMES[options.augment]
    if unicon and view is None:
        raise UserError(f"--augment none with --method {method}: UniCon trains on weak and strong views of every image; "
                        f"give --augment shift or crop_flip, or leave --augment out (its recipe's view)")
    recipe = replace(base, augment=view, epochs=settings.epochs_for(base), batch_size=settings.batch_for(base),
                     **{key: value for key, value in (("max_lr", options.lr), ("milestones", options.milestones),
                                                      ("unweighted_epochs", options.warm_up)) if value is not None})
    # what the schedule runs: the milestones in order, those it reaches (an epoch of UniCon's 0..epochs, one
    # before the last otherwise); weights from the epoch after the warm-up, if the run gets there
    reached = recipe.epochs + 1 if unicon else recipe.epochs
    recipe = replace(recipe, milestones=tuple(sorted(m for m in recipe.milestones if m < reached)))
    if unicon:
        if recipe.unweighted_epochs > recipe.epochs + 1:
            raise UserError(f"--warm_up {recipe.unweighted_epochs} is longer than the run: UniCon trains --num_epochs "
                            f"{recipe.epochs} as the authors' 0..{recipe.epochs}, {recipe.epochs + 1} epochs; give a "
                            f"shorter --warm_up or more --num_epochs")
        recipe = _unicon_recipe(recipe, setting)
    else:
        recipe = replace(recipe, unweighted_epochs=min(recipe.unweighted_epochs, recipe.epochs))
    trained = "cce" if method == CLEANLAB else method
    return NoisyRun(setting, method, seed, setup.arch, recipe, side,
                    sce=setup.sce if trained.removeprefix(HMW_PREFIX) == "sce" else None,
                    hmw=hmw if method.startswith(HMW_PREFIX) else None,
                    cv_n_folds=options.cv_n_folds if method == CLEANLAB else None,
                    val_fraction=(VAL_FRACTION if options.val_fraction is None else options.val_fraction) if own_images
                    else None,
                    pretrained=options.pretrained, cpu_threads=setup.cpu_threads,
                    data_path=None if setting.mode != HUMAN else str(data_path))


def _unicon_recipe(recipe, setting):
    """How uc and hmw+uc train (training/unicon_loop.py): the resolved recipe, its warm-up the recipe's
    unweighted epochs (the authors': 10 on CIFAR-10, 30 on CIFAR-100), the authors' 0..num_epochs (one epoch
    more than asked), the labelled batch the recipe's (the authors' --batch_size, 64 on CIFAR) and the
    warm-up's twice that, the strong view the weak one's (models/noisy.py UNICON_STRONG_VIEWS)."""
    return UniConRecipe(epochs=recipe.epochs + 1, warm_up=recipe.unweighted_epochs, lr=recipe.max_lr,
                        momentum=recipe.momentum, weight_decay=recipe.weight_decay, milestones=recipe.milestones,
                        gamma=recipe.gamma, batch_size=recipe.batch_size, warmup_batch_size=2 * recipe.batch_size,
                        weak_view=recipe.augment, strong_view=UNICON_STRONG_VIEWS[recipe.augment],
                        confidence_penalty=setting.mode == "asym")
