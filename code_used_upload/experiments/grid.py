"""The grid of cells (task x model x seed): skip what is complete, run the rest, keep the table fresh.

Cells of one task share that task's prepared data; tasks are prepared one after another, and only
those with a pending cell, so only one task's signals are in memory at a time. A cell that fails
(a non-finite loss, or any error) is reported with its error and the grid goes on; the summary
table is rewritten after every cell, its figure after every task, and every summary file (the
paired LDM effect included) at the end.
"""
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from code_used_upload.configs.tasks import TASK_EXPERIMENTS
from code_used_upload.experiments.cell import is_complete, run_cell
from code_used_upload.experiments.prepare import prepare_experiment
from code_used_upload.reports.summary import write_all_summaries
from code_used_upload.reports.tables import write_summary
from code_used_upload.training.loop import NonFiniteLossError


@dataclass
class Grid:
    """What one run asks for: every (task, model, seed) under `outputfolder`."""
    outputfolder: Path
    tasks: list
    models: list
    seeds: list

    def cells(self):
        """Every (task, model, seed) in table order."""
        return [(task, model, seed) for task in self.tasks for model in self.models for seed in self.seeds]

    def pending(self):
        """The cells without a complete folder yet, in table order."""
        return [(task, model, seed) for task, model, seed in self.cells()
                if not is_complete(Path(self.outputfolder) / TASK_EXPERIMENTS[task], model, seed)]

    def pending_tasks(self):
        """The tasks with at least one pending cell: the only ones worth preparing."""
        pending = {task for task, _, _ in self.pending()}
        return [task for task in self.tasks if task in pending]

    def write_summary(self, figure=True):
        """The table after a cell (figure=False, cheap) or after a task (with its figure)."""
        write_summary(self.outputfolder, self.models, self.tasks, figure=figure)

    def write_final_summaries(self, bar):
        """Every summary file, the paired LDM effect included, once the run's cells are done."""
        for seed in write_all_summaries(self.outputfolder, self.models, self.tasks):
            bar.write(f"LDM effect: left out {seed}")


def cell_name(task, model, seed):
    return f"{task}/{model}/seed{seed}"


def report_cell(bar, task, model, seed, seconds, result=None, error=None):
    """One line per finished cell: its test macro-AUC and wall time, or its error."""
    if error is None:
        bar.write(f"{cell_name(task, model, seed):45s} test macro-AUC {result['point']:.4f}  {seconds:7.1f} s")
    else:
        bar.write(f"{cell_name(task, model, seed):45s} FAILED: {error}")
    bar.update(1)


def describe_error(error):
    """A non-finite loss is an outcome of training: its message says it all. Anything else is
    unexpected, and its traceback is what a user needs to report it."""
    if isinstance(error, NonFiniteLossError):
        return str(error)
    return "".join(traceback.format_exception(error)).rstrip()


def run_grid_locally(dataset, grid, settings):
    """Run the pending cells in this process, one after another; returns the failed cells."""
    cells, pending = grid.cells(), grid.pending()
    failed = []
    bar = tqdm(total=len(cells), initial=len(cells) - len(pending), desc="grid", unit="cell")
    tasks = grid.pending_tasks()
    for task in tasks:
        data = prepare_experiment(dataset, grid.outputfolder, task)
        for _, model, seed in [cell for cell in pending if cell[0] == task]:
            started = time.time()
            try:
                result = run_cell(data, model, seed, settings)
            except Exception as error:  # one failing cell must not stop the grid
                failed.append((cell_name(task, model, seed), describe_error(error)))
                report_cell(bar, task, model, seed, time.time() - started, error=failed[-1][1])
                continue
            report_cell(bar, task, model, seed, time.time() - started, result=result)
            grid.write_summary(figure=False)
        if task != tasks[-1]:  # the last task's figure comes with the final summaries
            grid.write_summary()
    grid.write_final_summaries(bar)
    bar.close()
    return failed
