"""The one way every driver runs its grid: check the settings of what is already there, then run the pending
cells in this process or as Ray tasks.

Here, not in grid.py, so that the dependencies run one way: the Ray executor builds on the grid, and
this module chooses between the two.
"""
from code_used_upload.experiments.folders import check_output_folder, mark_output_folder
from code_used_upload.experiments.grid import run_grid_locally


def run_grid(grid, settings, executor="local", ray_address=None, gpus_per_cell=0.0, elsewhere="--outputfolder"):
    """Refuse an output folder that is not this toolkit's (experiments/folders.py check_output_folder) and a
    grid whose complete cells were made with other settings (Grid.check_settings; `elsewhere`
    names the flag that chooses another folder), then run the pending cells with the run's executor: `local`
    (one after another) or `ray` (Ray tasks on a local Ray or the cluster at `ray_address`, `gpus_per_cell`
    GPUs each); returns the failed cells."""
    check_output_folder(grid.experiment.outputfolder, elsewhere)
    grid.check_settings(settings, elsewhere)
    mark_output_folder(grid.experiment.outputfolder, elsewhere)
    if executor == "ray":
        from code_used_upload.experiments.ray_executor import RayCluster, run_grid_on_ray  # Ray is optional
        return run_grid_on_ray(grid, settings, RayCluster(ray_address, gpus_per_cell))
    return run_grid_locally(grid, settings)
