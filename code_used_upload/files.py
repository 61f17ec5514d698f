"""Writing a file so that it is whole or absent: the one way the toolkit replaces a file it wrote."""
import glob
import os
import platform
import re
from pathlib import Path


def write_atomically(path, write):
    """`write(file)` into a temporary file beside `path`, flushed to disk, then renamed onto `path`: after a
    crash the file is whole or absent, and the next run's cached load reads clean pages instead of waiting on
    the write-back. The temporary is named for this machine and process, so that two runs (on two machines
    sharing the folder too) never share one; a failed write leaves none, and one a killed process left (on
    this machine, a process that no longer runs) is removed here."""
    path = Path(path)
    _remove_abandoned_temporaries(path)
    temporary = path.with_name(f".{path.name}.{platform.node()}-{os.getpid()}.tmp")
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


def _remove_abandoned_temporaries(path):
    name = re.compile(rf"\.{re.escape(path.name)}\.{re.escape(platform.node())}-(\d+)\.tmp")
    for temporary in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        found = name.fullmatch(temporary.name)
        if found and not temporary.is_symlink() and temporary.is_file() and not process_runs(int(found[1])):
            temporary.unlink(missing_ok=True)


def process_runs(pid):
    """Whether a process `pid` runs on this machine (under any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it runs, under another user
        return True
    return True
