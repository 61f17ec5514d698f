"""The ECG experiment of the grid: PTB-XL's label tasks, each in the benchmark's experiment folder.

A small value (the data folder, the output folder, the sampling frequency): the signals are read once
per process, when a task is first prepared, and a Ray worker rebuilds a task's data from the same
value. `prepare` is experiments/prepare.py, `run_cell` experiments/cell.py, and the summaries are the
paper's table, its figure, the comparison and the paired LDM effect.
"""
import functools
from dataclasses import dataclass
from pathlib import Path

from code_used_upload.configs.tasks import TASK_EXPERIMENTS
from code_used_upload.data.task import PTBXL
from code_used_upload.experiments.cell import run_cell
from code_used_upload.experiments.prepare import prepare_experiment
from code_used_upload.reports.summary import write_all_summaries
from code_used_upload.reports.tables import write_summary


@dataclass(frozen=True)
class ECGExperiment:
    datafolder: str
    outputfolder: str
    sampling_frequency: int = 100
    progress: bool = True

    @functools.cached_property
    def dataset(self):
        """The records, read (or mapped from the cache) when a task is first prepared, shared by all tasks."""
        return PTBXL(self.datafolder, self.outputfolder, self.sampling_frequency, progress=self.progress)

    def __getstate__(self):
        """Pickled (for a Ray worker) without the records: the worker maps them itself."""
        return {key: value for key, value in self.__dict__.items() if key != "dataset"}

    def folder(self, task):
        return Path(self.outputfolder) / TASK_EXPERIMENTS[task]

    def prepare(self, task, write=True):
        return prepare_experiment(self.dataset, self.outputfolder, task, write=write)

    def run_cell(self, data, model, seed, settings):
        return run_cell(data, model, seed, settings)

    def describe(self, result):
        return f"test macro-AUC {result['point']:.4f}"

    def write_summary(self, models, tasks, figure=True):
        write_summary(self.outputfolder, models, tasks, figure=figure)

    def write_final_summaries(self, models, tasks):
        return [f"LDM effect: left out {seed}" for seed in write_all_summaries(self.outputfolder, models, tasks)]
