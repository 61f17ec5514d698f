"""The grid of cells (task x model x seed): skip what is complete, run the rest, keep the table fresh.

Cells of one task share that task's prepared data; tasks are prepared one after another so only one
task's signals are in memory at a time. A cell that fails (a non-finite loss, or any error) is
reported with its error and the grid goes on; the summary table is rewritten after every cell.
"""
import time
import traceback
from pathlib import Path

from tqdm.auto import tqdm

from code_used_upload.configs.tasks import TASK_EXPERIMENTS
from code_used_upload.experiments.cell import is_complete, run_cell
from code_used_upload.experiments.scp_experiment import prepare_task
from code_used_upload.utils.reports import write_summary
from code_used_upload.utils.training import NonFiniteLossError


def grid_cells(tasks, models, seeds):
    """Every (task, model, seed) in table order."""
    return [(task, model, seed) for task in tasks for model in models for seed in seeds]


def pending_cells(outputfolder, cells):
    """The cells without a complete folder yet."""
    return [(task, model, seed) for task, model, seed in cells
            if not is_complete(Path(outputfolder) / TASK_EXPERIMENTS[task], model, seed)]


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


def run_grid_locally(dataset, outputfolder, tasks, models, seeds, settings):
    """Run the pending cells in this process, one after another; returns the failed cells."""
    cells = grid_cells(tasks, models, seeds)
    pending = set(pending_cells(outputfolder, cells))
    failed = []
    bar = tqdm(total=len(cells), initial=len(cells) - len(pending), desc="grid", unit="cell")
    for task in tasks:
        data = prepare_task(dataset, outputfolder, task)
        for _, model, seed in [cell for cell in cells if cell[0] == task and cell in pending]:
            started = time.time()
            try:
                result = run_cell(data, model, seed, settings)
            except Exception as error:  # one failing cell must not stop the grid
                failed.append((cell_name(task, model, seed), describe_error(error)))
                report_cell(bar, task, model, seed, time.time() - started, error=failed[-1][1])
                continue
            report_cell(bar, task, model, seed, time.time() - started, result=result)
            write_summary(outputfolder, models, tasks, figure=False)
        write_summary(outputfolder, models, tasks)
    bar.close()
    return failed
