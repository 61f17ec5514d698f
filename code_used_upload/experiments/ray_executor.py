"""Run the grid's cells as Ray tasks: on the GPUs and CPUs of one machine or of a whole cluster.

The driver prepares each pending task's artefacts once; each cell is then a Ray task that rebuilds
its task's data from the experiment (its data folder and cache, on a filesystem every node sees)
and writes its folder in the usual layout, atomically. Fractional `gpus_per_cell` packs several
small cells onto one GPU. Complete cells are skipped as in the local executor; a failing cell is
reported and the others go on; Ctrl-C cancels what is outstanding, and no half-written cell remains.
"""
import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

import code_used_upload
from code_used_upload.errors import UserError
from code_used_upload.experiments.grid import cell_name, describe_error

LOCAL_OBJECT_STORE_BYTES = 256 * 2**20  # cells exchange only small results: keep /dev/shm free


@dataclass
class RayCluster:
    """Where the cells run and the GPUs each one reserves; its CPUs are the run's `threads`."""
    address: str = None        # a running cluster ("auto"), or None to start a local one
    gpus_per_cell: float = 0.0


def cpus_to_reserve(settings, cluster):
    """A CPU cell reserves the CPU threads it computes with (the run's `threads`, as the local executor
    uses), so cells never share cores and their sums are ordered as in a local run. A GPU cell computes
    on its GPU and reserves one CPU, so that fractional GPUs can pack several cells on one machine."""
    return 1 if cluster.gpus_per_cell else settings.threads


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install -r requirements-ray.txt") from None
    return ray


@functools.lru_cache(maxsize=1)
def task_data(experiment, task):
    """A worker keeps the last task's data, so consecutive cells of one task load it once."""
    return experiment.prepare(task, write=False)


def remote_cell(experiment, task, model, seed, settings):
    """The body of one Ray task: returns the cell's result and its wall time."""
    started = time.time()
    return experiment.run_cell(task_data(experiment, task), model, seed, settings), time.time() - started


def start_ray(ray, address):
    """Join the cluster at `address`, or start a local one; ship this package to the workers. Returns
    whether it started Ray: a Ray this process already runs (ray.init in a notebook or a script, or a
    test session's) is used as it is and left running, so its workers must be able to import this
    package (the runtime_env below, or an installed copy)."""
    if ray.is_initialized():
        return False
    package = str(Path(code_used_upload.__file__).parent)
    options = dict(runtime_env={"py_modules": [package]}, include_dashboard=False, log_to_driver=True)
    if address is None:
        options["object_store_memory"] = LOCAL_OBJECT_STORE_BYTES
    ray.init(address=address, **options)
    return True


def run_grid_on_ray(grid, settings, cluster=RayCluster()):
    """Run the pending cells as Ray tasks; returns the failed cells as (name, error)."""
    ray = import_ray()
    cells, pending = grid.cells(), grid.pending()
    for task in grid.pending_tasks():
        grid.experiment.prepare(task)
    started = start_ray(ray, cluster.address)
    cpus = cpus_to_reserve(settings, cluster)
    largest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]), default=0)
    if cpus > largest:
        if started:
            ray.shutdown()
        raise UserError(f"a cell needs {cpus} CPUs but the largest Ray node has {largest:g}; "
                        f"pass --cpus-per-cell {int(largest)} or fewer")
    run = ray.remote(remote_cell).options(num_gpus=cluster.gpus_per_cell, num_cpus=cpus, max_retries=0)
    quiet, experiment = replace(settings, progress=False), replace(grid.experiment, progress=False)
    futures = {run.remote(experiment, task, model, seed, quiet): (task, model, seed) for task, model, seed in pending}
    failed = []
    bar = tqdm(total=len(cells), initial=len(cells) - len(pending), desc="grid", unit="cell")
    try:
        while futures:
            done, _ = ray.wait(list(futures), num_returns=1)
            task, model, seed = futures.pop(done[0])
            try:
                result, seconds = ray.get(done[0])
            except Exception as error:  # one failing cell must not stop the grid
                cause = getattr(error, "cause", None) or error
                failed.append((cell_name(task, model, seed), describe_error(cause)))
                grid.report_cell(bar, task, model, seed, 0.0, error=failed[-1][1])
                continue
            grid.report_cell(bar, task, model, seed, seconds, result=result)
            grid.write_summary(figure=False)
        grid.write_final_summaries(bar)
    except KeyboardInterrupt:
        for future in futures:
            ray.cancel(future, force=True)
        raise
    finally:
        bar.close()
        if started:
            ray.shutdown()
    return failed
