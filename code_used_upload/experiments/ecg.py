"""The ECG experiment of the grid: the benchmark's label tasks of one dataset, PTB-XL's six, ICBEB 2018's
one or a user's folder's one, each in the benchmark's experiment folder (exp0 ... exp3, exp_ICBEB, exp_folder),
on the run's leads; its cells trained from scratch, or fine-tuned from a trained cell (`init_from`), on all
of the training folds or a fraction of them, each such variant in a folder of its own beside the task's
(`exp_ICBEB_finetuned_fraction0.1`: configs/tasks.py variant_folder).

A small value (the data folder, the output folder, the sampling frequency, the dataset): the records
are read once per process, when a task is first prepared, and a Ray worker rebuilds a task's data
from the same value. `prepare` is experiments/prepare.py, `run_cell` experiments/cell.py, and the
summaries are the paper's table (and ICBEB's), its figure, the comparisons and the paired LDM effect.

A cell's identity: its table part is the dataset, the data's fingerprint (the SHA-256 of its database
table, which holds every record's labels and folds; a folder's: of its label table and its records'
headers), the sampling frequency, the epochs asked for (a number, or each model's recipe, and the demo's
per-model epochs), the batch, the precision and the leads where not all twelve; its cell part the task,
the model, the seed, the epochs it trains and the training fraction where not 1. A fine-tuned cell's
table part has the epochs of each fine-tuning stage instead of the epochs asked for, and its cell part the
identity of the cell it started from.
"""
import functools
from dataclasses import dataclass, replace
from pathlib import Path

from code_used_upload.configs.identity import IDENTITY_KEY, identity
from code_used_upload.configs.tasks import DATASET_EXPERIMENTS, variant_folder
from code_used_upload.data.leads import STANDARD_LEADS
from code_used_upload.data.task import DATASETS, prepare_task
from code_used_upload.evaluation.metrics import CHALLENGE_METRICS
from code_used_upload.experiments.cell import run_cell
from code_used_upload.experiments.prepare import prepare_experiment
from code_used_upload.experiments.trained_cell import read_trained_cell
from code_used_upload.models import model_recipe
from code_used_upload.reports.summary import write_all_summaries
from code_used_upload.reports.tables import write_summary
from code_used_upload.reports.transfer import write_transfer_summary


@dataclass(frozen=True)
class ECGExperiment:
    datafolder: str
    outputfolder: str
    sampling_frequency: int = 100
    progress: bool = True
    dataset: str = "ptbxl"  # ptbxl, icbeb or folder (configs/tasks.py DATASET_EXPERIMENTS)
    leads: tuple = STANDARD_LEADS  # the leads the models see, in this order
    window_seconds: float = 2.5    # the longest window of the run's models: a shorter record is refused
    train_fraction: float = 1.0    # the share of the training folds the cells train on
    init_from: str = None          # a trained cell the cells are fine-tuned from
    finetune_epochs: int = 30      # with init_from: the epochs of each of the two stages

    @functools.cached_property
    def source(self):
        """The dataset's records, read (or mapped from the cache) when a task is first prepared, shared by
        all its tasks."""
        return DATASETS[self.dataset](self.datafolder, self.outputfolder, self.sampling_frequency,
                                      progress=self.progress, leads=self.leads,
                                      min_samples=int(round(self.window_seconds * self.sampling_frequency)))

    @functools.cached_property
    def source_cell(self):
        """The trained cell the cells are fine-tuned from (experiments/trained_cell.py), None without one."""
        return read_trained_cell(self.init_from, "--init_from") if self.init_from else None

    def __getstate__(self):
        """Pickled (for a Ray worker) without the records: the worker maps them itself."""
        return {key: value for key, value in self.__dict__.items()
                if key not in ("source", "data_fingerprint", "source_cell")}

    def with_fraction(self, train_fraction):
        """The same experiment on another share of the training folds, sharing the records read so far."""
        other = replace(self, train_fraction=train_fraction)
        if "source" in self.__dict__:
            other.__dict__["source"] = self.source
        return other

    def folder(self, task):
        return Path(self.outputfolder) / variant_folder(DATASET_EXPERIMENTS[self.dataset][task], self.train_fraction,
                                                        self.init_from is not None)

    @functools.cached_property
    def data_fingerprint(self):
        """The dataset's fingerprint (data/task.py, data/folder.py); None where it cannot be read (the run then
        says why)."""
        return DATASETS[self.dataset].fingerprint(self.datafolder)

    def identity(self, task, model, seed, settings):
        """What makes this cell's numbers (configs/identity.py)."""
        table = {"dataset": self.dataset, "data_sha256": self.data_fingerprint,
                 "sampling_frequency": settings.sampling_frequency, "epochs": settings.epochs or "recipe",
                 "per_model": settings.per_model or {}, "batch_size": settings.batch_size,
                 "precision": settings.precision}
        cell = {"task": task, "model": model, "seed": seed,
                "epochs_trained": settings.for_model(model).epochs_for(model_recipe(model))}
        if tuple(self.leads) != STANDARD_LEADS:
            table["leads"] = list(self.leads)
        if self.train_fraction != 1:
            cell["train_fraction"] = self.train_fraction
        if self.init_from:
            del table["epochs"], table["per_model"]
            table["finetune_epochs"] = self.finetune_epochs
            cell["epochs_trained"] = 2 * self.finetune_epochs
            cell["init_from"] = self.source_cell.record.get(IDENTITY_KEY) or {"model": self.source_cell.record["model"]}
        return identity(table, cell)

    def _options(self):
        """How this experiment prepares a task: its folder, its training fraction and its scaler (a fine-tuned
        cell's inputs are standardised with the scaler of the cell it starts from, as the benchmark's notebook)."""
        return dict(train_fraction=self.train_fraction,
                    scaler=self.source_cell.record["scaler"] if self.init_from else None)

    def check(self, task):
        """Read the data and split the task as `prepare` would, writing nothing: bad input is found before any
        cell trains."""
        prepare_task(self.source, self.outputfolder, task, write=False, **self._options())

    def prepare(self, task, write=True):
        return prepare_experiment(self.source, self.outputfolder, task, write=write, folder=self.folder(task),
                                  **self._options())

    def run_cell(self, data, model, seed, settings):
        return run_cell(data, model, seed, settings, self.identity(data.task, model, seed, settings),
                        source=self.source_cell, finetune_epochs=self.finetune_epochs)

    def describe(self, result):
        challenge = "".join(f", {name.removesuffix('_macro')} {result[name]['point']:.4f}"
                            for name in CHALLENGE_METRICS if name in result)
        return f"test macro-AUC {result['point']:.4f}{challenge}"

    def write_summary(self, models, tasks, figure=True):
        write_summary(self.outputfolder, models, tasks, figure=figure, dataset=self.dataset)
        write_transfer_summary(self.outputfolder, models, tasks, self.dataset, figure=figure)

    def write_final_summaries(self, models, tasks):
        return [f"LDM effect: left out {seed}"
                for seed in write_all_summaries(self.outputfolder, models, tasks, dataset=self.dataset)]
