"""The ECG experiment of the grid: the benchmark's label tasks of one dataset, PTB-XL's six or ICBEB 2018's
one, each in the benchmark's experiment folder (exp0 ... exp3, exp_ICBEB).

A small value (the data folder, the output folder, the sampling frequency, the dataset): the records
are read once per process, when a task is first prepared, and a Ray worker rebuilds a task's data
from the same value. `prepare` is experiments/prepare.py, `run_cell` experiments/cell.py, and the
summaries are the paper's table (and ICBEB's), its figure, the comparisons and the paired LDM effect.

A cell's identity: its table part is the dataset, the data's fingerprint (the SHA-256 of its database
table, which holds every record's labels and folds), the sampling frequency, the epochs asked for (a
number, or each model's recipe, and the demo's per-model epochs), the batch and the precision; its cell
part the task, the model, the seed and the epochs it trains.
"""
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from code_used_upload.configs.identity import identity
from code_used_upload.configs.tasks import DATASET_EXPERIMENTS
from code_used_upload.data.task import DATASETS
from code_used_upload.evaluation.metrics import CHALLENGE_METRICS
from code_used_upload.experiments.cell import run_cell
from code_used_upload.experiments.prepare import prepare_experiment
from code_used_upload.models import model_recipe
from code_used_upload.reports.summary import write_all_summaries
from code_used_upload.reports.tables import write_summary


@dataclass(frozen=True)
class ECGExperiment:
    datafolder: str
    outputfolder: str
    sampling_frequency: int = 100
    progress: bool = True
    dataset: str = "ptbxl"  # ptbxl or icbeb (configs/tasks.py DATASET_EXPERIMENTS)

    @functools.cached_property
    def source(self):
        """The dataset's records, read (or mapped from the cache) when a task is first prepared, shared by
        all its tasks."""
        return DATASETS[self.dataset](self.datafolder, self.outputfolder, self.sampling_frequency,
                                      progress=self.progress)

    def __getstate__(self):
        """Pickled (for a Ray worker) without the records: the worker maps them itself."""
        return {key: value for key, value in self.__dict__.items() if key not in ("source", "data_fingerprint")}

    def folder(self, task):
        return Path(self.outputfolder) / DATASET_EXPERIMENTS[self.dataset][task]

    @functools.cached_property
    def data_fingerprint(self):
        """SHA-256 of the dataset's database table; None where it cannot be read (the run then says why)."""
        path = Path(self.datafolder) / DATASETS[self.dataset].database_file
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    def identity(self, task, model, seed, settings):
        """What makes this cell's numbers (configs/identity.py)."""
        table = {"dataset": self.dataset, "data_sha256": self.data_fingerprint,
                 "sampling_frequency": settings.sampling_frequency, "epochs": settings.epochs or "recipe",
                 "per_model": settings.per_model or {}, "batch_size": settings.batch_size,
                 "precision": settings.precision}
        cell = {"task": task, "model": model, "seed": seed,
                "epochs_trained": settings.for_model(model).epochs_for(model_recipe(model))}
        return identity(table, cell)

    def prepare(self, task, write=True):
        return prepare_experiment(self.source, self.outputfolder, task, write=write)

    def run_cell(self, data, model, seed, settings):
        return run_cell(data, model, seed, settings, self.identity(data.task, model, seed, settings))

    def describe(self, result):
        challenge = "".join(f", {name.removesuffix('_macro')} {result[name]['point']:.4f}"
                            for name in CHALLENGE_METRICS if name in result)
        return f"test macro-AUC {result['point']:.4f}{challenge}"

    def write_summary(self, models, tasks, figure=True):
        write_summary(self.outputfolder, models, tasks, figure=figure, dataset=self.dataset)

    def write_final_summaries(self, models, tasks):
        return [f"LDM effect: left out {seed}"
                for seed in write_all_summaries(self.outputfolder, models, tasks, dataset=self.dataset)]
