"""A cell's folder: where it lives, when it is complete, and how it is written so that it is always complete.

A cell is built in a hidden temporary folder beside its final place and renamed into place only when
every file is written (`cell_workspace`), so a folder with the final name is always complete, and a
run killed at any moment loses at most the cell in flight. `cell.json` is written last: its presence
marks a complete cell. The same for every kind of cell (a PTB-XL cell, a noisy-label run).
"""
import contextlib
import json
import os
import platform
import shutil
from pathlib import Path

import torch

from code_used_upload.configs.identity import IDENTITY_KEY
from code_used_upload.training.device import describe_device

CELL_FILE = "cell.json"
WEIGHTS_FILE = "model.pt"


def cell_folder(task_folder, model_name, seed):
    return Path(task_folder) / "models" / model_name / f"seed{seed}"


def is_complete(folder):
    return (Path(folder) / CELL_FILE).exists()


def recorded_identity(folder):
    """The identity (configs/identity.py) a complete cell recorded in its cell.json; None if it has none."""
    return json.loads((Path(folder) / CELL_FILE).read_text()).get(IDENTITY_KEY)


def seed_folders(task_folder, model_name):
    """{seed: folder} of the complete cells of one model of a task, whatever seeds a run asks for."""
    found = {}
    for folder in sorted((Path(task_folder) / "models" / model_name).glob("seed*")):
        if folder.name[4:].isdigit() and is_complete(folder):
            found[int(folder.name[4:])] = folder
    return found


@contextlib.contextmanager
def cell_workspace(final):
    """A fresh hidden folder beside `final` to write the cell into; renamed to `final` when the block ends
    without an error (replacing an older `final`), removed when it fails."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    work = final.parent / f".{final.name}.tmp-{platform.node()}-{os.getpid()}"
    work.mkdir(parents=True)
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    os.replace(work, final)


def provenance(device, settings):
    """What a cell's numbers depend on besides its data and model: the settings, the numerics, the device
    model and the library versions."""
    return {"precision": settings.precision, "deterministic": settings.deterministic,
            "threads": torch.get_num_threads(), **describe_device(device)}
