"""Writing a file so that it is whole or absent: the one way the toolkit replaces a file it wrote."""
import os
from pathlib import Path


def write_atomically(path, write):
    """`write(file)` into a temporary file beside `path` (named for this process, so two runs never share one),
    flushed to disk, then renamed onto `path`: after a crash the file is whole or absent, and the next run's
    cached load reads clean pages instead of waiting on the write-back. A failed write leaves no temporary."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
