"""Writing a file so that it is whole or absent, the one way the toolkit replaces a file it wrote; and the
temporaries it writes beside a file or folder (named for machine and process) that a killed run left."""
import glob
import os
import platform
import re
from pathlib import Path


def write_atomically(path, write):
    """`write(file)` into a temporary file beside `path` (`temporary_beside`), flushed to disk, then renamed
    onto `path`: after a crash the file is whole or absent, and the next run's cached load reads clean pages
    instead of waiting on the write-back. A failed write leaves no temporary, and one a killed process left
    (`abandoned_temporaries`) is removed here."""
    path = Path(path)
    for abandoned in abandoned_temporaries(path):
        if abandoned.is_file():
            abandoned.unlink(missing_ok=True)
    temporary = temporary_beside(path)
    try:
        with open(temporary, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:  # numpy's short write on a full disk names no file: this one is meant
        error.filename = error.filename or str(path)
        raise
    finally:
        temporary.unlink(missing_ok=True)


def temporary_beside(path):
    """`.<name>.tmp-<machine>-<pid>` beside `path`: this process's, so that two runs (on two machines sharing
    the folder too) never write into one."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{platform.node()}-{os.getpid()}")


def abandoned_temporaries(path):
    """The temporaries beside `path` (`temporary_beside`) of this machine's processes that no longer run
    (another machine's, and a link, are left alone)."""
    path = Path(path)
    name = re.compile(rf"\.{re.escape(path.name)}\.tmp-{re.escape(platform.node())}-(\d+)")
    return [temporary for temporary in path.parent.glob(f".{glob.escape(path.name)}.tmp-*")
            if (found := name.fullmatch(temporary.name)) and not temporary.is_symlink()
            and not process_runs(int(found[1]))]


def process_runs(pid):
    """Whether a process `pid` runs on this machine (under any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it runs, under another user
        return True
    return True
