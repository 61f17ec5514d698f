"""The grid of cells (task x model x seed) of one experiment: skip what is complete, run the rest, keep the
table fresh.

An experiment (the PTB-XL tasks, experiments/ecg.py; the noisy-label settings, experiments/noisy.py)
says where a task's cells live (`folder(task)`), what identifies a cell (`identity(task, model, seed,
settings)`: the settings that change its numbers, configs/identity.py), prepares the data a task's cells share
(`prepare(task, write)`: with `write` also the task's artefacts, without it on a worker that rebuilds
the data), runs one cell (`run_cell(data, model, seed, settings)` -> its result), says the result in
a few words (`describe(result)`) and writes the summary files (`write_summary(models, tasks, figure)`
after each cell, `write_final_summaries(models, tasks)` once at the end, returning lines to say). An
experiment is a small picklable value, so that a Ray worker can rebuild a task's data from it.

Before anything is prepared or trained, every complete cell of the tables the run writes (the requested
tasks and models, any seed) is compared with the identity this run would give it: one made with other
settings stops the run with one line naming the differences (`check_settings`), so that a table never
shows old numbers under new settings, nor mixes runs of different settings. Every pending cell's folder
must be the toolkit's own (new, or empty: experiments/folders.py), and an experiment that can find more
to refuse before training (a checkpoint of other settings beside a cell) says so there
(`check_pending(task, model, seed, settings)`, where it has one). The executors
(experiments/executors.py) run the pending cells: in this process (`run_grid_locally`) or on Ray.

Tasks are prepared one after another, and only those with a pending cell, so only one task's data is
in memory at a time. A cell that fails (a non-finite loss, or any error) is reported with its error
and the grid goes on; the summary table is rewritten after every cell, its figure after every task,
and every summary file at the end. A cell that refuses its input (a UserError) is reported in its one line.
"""
import time
import traceback
from dataclasses import dataclass

from tqdm.auto import tqdm

from code_used_upload.configs.identity import refuse_other_settings, same_settings
from code_used_upload.errors import UserError
from code_used_upload.experiments.folders import (cell_folder, check_own_folder, is_complete, recorded_identity,
                                                  seed_folders)
from code_used_upload.training.loop import NonFiniteLossError


@dataclass
class Grid:
    """What one run asks for: every (task, model, seed) of `experiment`."""
    experiment: object
    tasks: list
    models: list
    seeds: list

    def cells(self):
        """Every (task, model, seed) in table order."""
        return [(task, model, seed) for task in self.tasks for model in self.models for seed in self.seeds]

    def pending(self):
        """The cells without a complete folder yet, in table order."""
        return [(task, model, seed) for task, model, seed in self.cells()
                if not is_complete(cell_folder(self.experiment.folder(task), model, seed))]

    def pending_tasks(self):
        """The tasks with at least one pending cell: the only ones worth preparing."""
        pending = {task for task, _, _ in self.pending()}
        return [task for task in self.tasks if task in pending]

    def check_settings(self, settings, elsewhere="--outputfolder"):
        """Refuse (a UserError, one line) when a complete cell of this grid's tables, any seed, was made with
        other settings than `settings` would give it (OtherSettingsError), or a pending cell's folder is not
        the toolkit's own, or the experiment's `check_pending` refuses a pending cell; nothing is prepared or
        trained before this check."""
        mismatched = []
        for task in self.tasks:
            for model in self.models:
                for seed, folder in seed_folders(self.experiment.folder(task), model).items():
                    recorded, wanted = recorded_identity(folder), self.experiment.identity(task, model, seed, settings)
                    if not same_settings(recorded, wanted):
                        mismatched.append((folder, recorded, wanted))
        if mismatched:
            folder, recorded, wanted = mismatched[0]
            refuse_other_settings(str(folder), recorded, wanted, elsewhere, also=len(mismatched) - 1)
        check_pending = getattr(self.experiment, "check_pending", None)
        for task, model, seed in self.pending():
            check_own_folder(cell_folder(self.experiment.folder(task), model, seed), elsewhere)
            if check_pending is not None:
                check_pending(task, model, seed, settings)

    def write_summary(self, figure=True):
        """The table after a cell (figure=False, cheap) or after a task (with its figure)."""
        self.experiment.write_summary(self.models, self.tasks, figure=figure)

    def write_final_summaries(self, bar):
        """Every summary file, once the run's cells are done."""
        for line in self.experiment.write_final_summaries(self.models, self.tasks):
            bar.write(line)

    def report_cell(self, bar, task, model, seed, seconds, result=None, error=None):
        """One line per finished cell: what its result says and its wall time, or its error."""
        if error is None:
            bar.write(f"{cell_name(task, model, seed):45s} {self.experiment.describe(result)}  {seconds:7.1f} s")
        else:
            bar.write(f"{cell_name(task, model, seed):45s} FAILED: {error}")
        bar.update(1)


def cell_name(task, model, seed):
    return f"{task}/{model}/seed{seed}"


def describe_error(error):
    """A non-finite loss is an outcome of training, and a UserError names its input and what to do: their
    messages say it all. Anything else is unexpected, and its traceback is what a user needs to report it."""
    if isinstance(error, (NonFiniteLossError, UserError)):
        return str(error)
    return "".join(traceback.format_exception(error)).rstrip()


def run_grid_locally(grid, settings):
    """Run the pending cells in this process, one after another; returns the failed cells."""
    cells, pending = grid.cells(), grid.pending()
    failed = []
    bar = tqdm(total=len(cells), initial=len(cells) - len(pending), desc="grid", unit="cell")
    tasks = grid.pending_tasks()
    for task in tasks:
        data = grid.experiment.prepare(task)
        for _, model, seed in [cell for cell in pending if cell[0] == task]:
            started = time.time()
            try:
                result = grid.experiment.run_cell(data, model, seed, settings)
            except Exception as error:  # one failing cell must not stop the grid
                failed.append((cell_name(task, model, seed), describe_error(error)))
                grid.report_cell(bar, task, model, seed, time.time() - started, error=failed[-1][1])
                continue
            grid.report_cell(bar, task, model, seed, time.time() - started, result=result)
            grid.write_summary(figure=False)
        if task != tasks[-1]:  # the last task's figure comes with the final summaries
            grid.write_summary()
    grid.write_final_summaries(bar)
    bar.close()
    return failed
