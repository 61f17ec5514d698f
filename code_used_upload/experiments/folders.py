"""A cell's folder: where it lives, when it is complete, and how it is written so that it is always complete.

A cell is built in a hidden temporary folder beside its final place and renamed into place only when
every file is written (`cell_workspace`), so a folder with the final name is always complete, and a
run killed at any moment loses at most the cell in flight. `cell.json` is written last: its presence
marks a complete cell. The same for every kind of cell (a PTB-XL cell, a noisy-label run).

The toolkit replaces only what it wrote: a cell's final place must be new, an empty folder or a complete
cell (which is kept, never replaced); a folder holding anything else (your files, a data set, the working
directory) is refused before anything trains (`check_own_folder`), and nothing in it is touched.
"""
import contextlib
import glob
import json
import math
import os
import platform
import shutil
from pathlib import Path

import torch

from code_used_upload.configs.identity import IDENTITY_KEY
from code_used_upload.errors import UserError
from code_used_upload.training.device import describe_device

SHOWN_FILES = 3  # the files a refusal names before "..."

CELL_FILE = "cell.json"
WEIGHTS_FILE = "model.pt"


def cell_folder(task_folder, model_name, seed):
    return Path(task_folder) / "models" / model_name / f"seed{seed}"


def is_complete(folder):
    return (Path(folder) / CELL_FILE).exists()


def recorded_identity(folder):
    """The identity (configs/identity.py) a complete cell recorded in its cell.json; None if it has none."""
    path = Path(folder) / CELL_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not a cell.json this toolkit wrote ({type(error).__name__}: {error}); the folder "
                        f"is not a run of this toolkit: give the run another folder") from None
    if not isinstance(record, dict):
        raise UserError(f"{path} is not a cell.json this toolkit wrote; give the run another folder")
    return record.get(IDENTITY_KEY)


def write_record(path, record):
    """A cell.json: strict JSON (a NaN, which JSON has not, written as null), indented, ending in a newline."""
    Path(path).write_text(json.dumps(_strict(record), indent=2, allow_nan=False) + "\n")


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


def check_own_folder(final, flag):
    """Refuse (UserError, one line) to write a cell into `final` unless it is new, an empty folder or a complete
    cell: a folder of anything else (the working directory or a folder above it included) would lose its
    files when the cell replaced it. `flag` names the option that chooses another folder."""
    final = Path(final)
    target, here = final.resolve(), Path.cwd().resolve()
    if target == here or target in here.parents:
        raise UserError(f"{final} is {'the working directory' if target == here else 'a folder above the working directory'}"
                        f": a run is written into a folder of its own; give {flag} a new folder, e.g. {final / 'run'}")
    if final.is_symlink() and not final.exists():
        raise UserError(f"{final} is a link to nothing: give {flag} a new folder, or remove the link")
    if final.exists() and not final.is_dir():
        raise UserError(f"{final} is a file, not a folder: give {flag} a new folder")
    if final.is_dir() and not is_complete(final):
        held = sorted(path.name for path in final.iterdir())
        if held:
            shown = ", ".join(held[:SHOWN_FILES]) + (f" and {len(held) - SHOWN_FILES} more" if len(held) > SHOWN_FILES else "")
            raise UserError(f"{final} is not empty and not a run of this toolkit (it holds {shown}): a run is written "
                            f"only into a new or empty folder, so that nothing of yours is replaced; give {flag} a new "
                            f"folder")


def seed_folders(task_folder, model_name):
    """{seed: folder} of the complete cells of one model of a task, whatever seeds a run asks for."""
    found = {}
    for folder in sorted((Path(task_folder) / "models" / model_name).glob("seed*")):
        if folder.name[4:].isdigit() and is_complete(folder):
            found[int(folder.name[4:])] = folder
    return found


@contextlib.contextmanager
def cell_workspace(final, flag="--outputfolder"):
    """A fresh hidden folder beside `final` (checked: `check_own_folder`) to write the cell into; renamed to
    `final` when the block ends without an error (replacing nothing but an empty folder), removed when it
    fails. Only the toolkit's own hidden folders of a killed run (`.<name>.tmp-*`) are removed beside it."""
    check_own_folder(final, flag)
    target = Path(final).resolve()  # a link to an empty folder: that folder receives the cell, the link stays
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.tmp-*"):  # left by a killed run
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    work = target.parent / f".{target.name}.tmp-{platform.node()}-{os.getpid()}"
    work.mkdir(parents=True)
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    try:
        os.replace(work, target)  # over an empty folder only: POSIX refuses to replace one that holds anything
    except OSError as error:
        raise UserError(f"{final} was filled by something else while the cell was written ({error.strerror}); the cell "
                        f"is kept in {work}: move it where you want it") from None


def provenance(device, settings):
    """What a cell's numbers depend on besides its data and model: the settings, the numerics, the device
    model and the library versions."""
    return {"precision": settings.precision, "deterministic": settings.deterministic,
            "threads": torch.get_num_threads(), **describe_device(device)}
