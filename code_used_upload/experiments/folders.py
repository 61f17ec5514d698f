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
import fcntl
import json
import math
import os
import shutil
from pathlib import Path

import torch

from code_used_upload.configs.identity import IDENTITY_KEY
from code_used_upload.errors import UserError
from code_used_upload.files import abandoned_temporaries, temporary_beside
from code_used_upload.training.device import describe_device

SHOWN_FILES = 3  # the files a refusal names before "..."
LONGEST_NAME = 200  # bytes of a cell folder's name: its workspace beside it adds a host, a process id and a mark
WORKSPACE_MARK = ".workspace-of-this-toolkit"  # inside a cell's workspace while it is written
OUTPUT_MARK = ".outputs-of-this-toolkit"  # in an output folder this toolkit writes its cells and tables into
# the titles of the tables an output folder of this toolkit holds (reports/), by which one it wrote before
# the mark is told from a folder of yours
TABLE_TITLES = ("# Our results beside the LDM paper's", "# ICBEB 2018: our results beside", "# Learning with noisy labels:")

CELL_FILE = "cell.json"
WEIGHTS_FILE = "model.pt"


def cell_folder(task_folder, model_name, seed):
    return Path(task_folder) / "models" / model_name / f"seed{seed}"


def is_complete(folder):
    """Whether `folder` holds a complete cell: a cell.json this toolkit wrote (its record ends with the wall
    time; a cell.json of yours is not taken for one)."""
    return _record(Path(folder) / CELL_FILE) is not None


def _record(path):
    """The dict a cell.json of this toolkit holds; None for a missing or foreign file."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and "wall_time_s" in record else None


def recorded_identity(folder):
    """The identity (configs/identity.py) a complete cell recorded in its cell.json; None if it has none."""
    return _record(Path(folder) / CELL_FILE).get(IDENTITY_KEY)


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
    files when the cell replaced it. Its place must take a folder, and its name the workspace's beside it.
    `flag` names the option that chooses another folder."""
    final = Path(final)
    target, here = final.resolve(), Path.cwd().resolve()
    if target == here or target in here.parents:
        raise UserError(f"{final} is {'the working directory' if target == here else 'a folder above the working directory'}"
                        f": a run is written into a folder of its own; give {flag} a new folder, e.g. {final / 'run'}")
    if final.is_symlink() and not final.exists():
        raise UserError(f"{final} is a link to nothing: give {flag} a new folder, or remove the link")
    if final.exists() and not final.is_dir():
        raise UserError(f"{final} is a file, not a folder: give {flag} a new folder")
    if len(os.fsencode(target.name)) > LONGEST_NAME:
        raise UserError(f"{final}: a name of {len(os.fsencode(target.name))} bytes; the toolkit writes its work beside "
                        f"the folder under a longer one: give {flag} a name of at most {LONGEST_NAME} bytes")
    existing = next(folder for folder in (target, *target.parents) if folder.exists())
    if not existing.is_dir():
        raise UserError(f"{existing} is a file, so {final} cannot be made: give {flag} a folder elsewhere")
    if not os.access(existing if existing != target else target.parent, os.W_OK | os.X_OK):
        raise UserError(f"{existing if existing != target else target.parent} cannot be written by you: give {flag} a "
                        f"folder you can write")
    if final.is_dir() and not is_complete(final):
        held = sorted(path.name for path in final.iterdir())
        if held:
            shown = ", ".join(held[:SHOWN_FILES]) + (f" and {len(held) - SHOWN_FILES} more" if len(held) > SHOWN_FILES else "")
            raise UserError(f"{final} is not empty and not a run of this toolkit (it holds {shown}): a run is written "
                            f"only into a new or empty folder, so that nothing of yours is replaced; give {flag} a new "
                            f"folder")


@contextlib.contextmanager
def cell_lock(final, flag):
    """Hold `final` for this process while its cell is checked, trained and written: a second run asking for the
    same folder at the same time (another terminal, another Ray worker) is refused in one line instead of both
    resuming one checkpoint and removing each other's work. The lock is a file beside the folder
    (`.<name>.lock`, an advisory lock the system releases when the process ends however it ends), removed
    when the cell is done."""
    target = Path(final).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f".{target.name}.lock"
    if path.is_symlink() or (path.is_file() and path.stat().st_size):  # this toolkit's locks are empty files
        raise UserError(f"{path} is not a lock of this toolkit (it holds something): it has the name of this cell's "
                        f"lock; move it away, or give {flag} another folder")
    while True:
        try:
            handle = open(path, "a+")
        except OSError as error:
            raise UserError(f"{path}, where the cell's lock goes, cannot be opened ({error.strerror}): remove it, or give "
                            f"{flag} another folder") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise UserError(f"{final} is being written by another run right now: wait for it to finish, or give {flag} "
                            f"another folder") from None
        if path.exists() and os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
            break  # the lock file is still the one at the path: not one its last holder removed meanwhile
        handle.close()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()


def check_output_folder(folder, flag):
    """Refuse (UserError, one line) an output folder that is not this toolkit's, before anything is written:
    its tables (results.md, results.csv, ...) replace files of those names, so it must be new, empty, marked
    as this toolkit's (OUTPUT_MARK, `mark_output_folder`), or one it wrote before the mark (a complete cell or
    one of its tables in it). A folder of yours, the working directory with your files in it, or a file is
    refused."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, not a folder: give {flag} a folder")
    if folder.is_dir() and not (folder / OUTPUT_MARK).is_file():
        held = sorted(path.name for path in folder.iterdir() if path.name != ".gitkeep")
        if held and not _wrote_before(folder):
            shown = ", ".join(held[:SHOWN_FILES]) + (f" and {len(held) - SHOWN_FILES} more" if len(held) > SHOWN_FILES else "")
            raise UserError(f"{folder} holds files this toolkit did not write ({shown}), and its tables (results.md, "
                            f"results.csv, ...) would replace files of those names: give {flag} a new or empty folder, "
                            f"or one this toolkit wrote")


def mark_output_folder(folder, flag):
    """Make the checked `folder` this toolkit's output folder (OUTPUT_MARK in it)."""
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OUTPUT_MARK).touch()
    except OSError as error:
        raise UserError(f"{folder} cannot be written ({error.strerror}): give {flag} a folder you can write") from None


def _wrote_before(folder):
    """Whether `folder` holds what this toolkit writes: a complete cell (of the ECG or noisy-label layout, or
    the demo's per view), its signal cache, or one of its tables."""
    for pattern in ("*/models/*/seed*", "*/*/models/*/seed*", "*/*/*/models/*/seed*"):
        if any(is_complete(cell) for cell in folder.glob(pattern)):
            return True
    # a signal cache (PTB-XL's, ICBEB's, a folder's: data/), or one a run stopped while writing it
    if any(folder.glob("cache/*signals_*hz.npy")) or any(folder.glob("cache/.*signals_*hz.npy.tmp-*")):
        return True
    try:
        first = (folder / "results.md").read_text().split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith(TABLE_TITLES)


def check_apart(data_path, folder, flag):
    """Refuse (UserError) a run folder inside the folder of images it reads, or one holding it: the run's
    files (weights.png, ...) would be read as images, or a class, by the next run on that folder."""
    data, run = Path(data_path).expanduser().resolve(), Path(folder).expanduser().resolve()
    if run == data or data in run.parents or run in data.parents:
        raise UserError(f"{folder} {'is inside' if data in run.parents else 'holds' if run in data.parents else 'is'} "
                        f"the folder of images {data_path}: the run's files would be read as images by the next run; "
                        f"give {flag} a folder outside it")


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
    `final` when the block ends without an error (replacing nothing but an empty folder, whose permissions
    the cell keeps), removed when it fails. A killed run's workspace beside it is removed only where it is
    provably this toolkit's: its name says this machine and a process that no longer runs, and it holds the
    workspace's mark."""
    check_own_folder(final, flag)
    target = Path(final).resolve()  # a link to an empty folder: that folder receives the cell, the link stays
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in abandoned_temporaries(target):
        if (stale / WORKSPACE_MARK).is_file():  # a workspace, not a file or folder of yours of a name like it
            shutil.rmtree(stale, ignore_errors=True)
    work = temporary_beside(target)
    work.mkdir(parents=True)
    (work / WORKSPACE_MARK).touch()
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    (work / WORKSPACE_MARK).unlink()
    mode = target.stat().st_mode if target.is_dir() else None
    try:
        os.replace(work, target)  # over an empty folder only: POSIX refuses to replace one that holds anything
    except OSError as error:
        raise UserError(f"{final} was filled by something else while the cell was written ({error.strerror}); the cell "
                        f"is kept in {work}: move it where you want it") from None
    if mode is not None:
        os.chmod(target, mode)


def provenance(device, settings):
    """What a cell's numbers depend on besides its data and model: the settings, the numerics, the device
    model and the library versions."""
    return {"precision": settings.precision, "deterministic": settings.deterministic,
            "threads": torch.get_num_threads(), **describe_device(device)}
