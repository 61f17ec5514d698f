"""Reading pickles of numpy arrays without letting them run code: CIFAR's batch files, and CIFAR-N's label
files (a pickle inside the zip archive torch.save writes).

A pickle can call any function it names (os.system, builtins.open, ...) while it is read. The unpickler
here admits only what these files hold, dicts, lists, strings, numbers and numpy arrays (numpy's array
reconstruction, and bytes as protocol 2 writes them), and refuses anything else before it runs.
`torch.load(weights_only=True)` reads the torch archives too once numpy's types are added to its allow list
(the tests read them so, as an independent check); one unpickler for both kinds of file keeps one list of
what is let in, and one set of messages.
"""
import pickle
import zipfile
from contextlib import contextmanager

import numpy as np

from code_used_upload.errors import UserError

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct


class _Refused(pickle.UnpicklingError):
    """A global that none of these files holds: the file is not the one expected."""


def _latin1_bytes(text, encoding):
    """What protocol-2 pickles of bytes call (`_codecs.encode(text, 'latin1')`), for latin1 only."""
    if encoding != "latin1":
        raise _Refused(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _empty_bytes():
    """What protocol-2 pickles of b'' call (`bytes()`): an empty array's data, e.g. an empty stand-in batch."""
    return b""


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays, and nothing that could run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_bytes,
        ("__builtin__", "bytes"): _empty_bytes,  # protocol 2's name; find_class sees it before any renaming
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise _Refused(f"{module}.{name}")
        return self.ALLOWED[module, name]


def unpickle_arrays(path, kind, remedy):
    """The pickle file at `path` read with ArrayUnpickler and latin1 strings (the encoding of CIFAR's
    Python 2 pickles); a UserError naming the file, what it is (`kind`) and what to do (`remedy`) otherwise."""
    return _load(path, lambda: open(path, "rb"), kind, remedy)


def torch_load_arrays(path, kind, remedy):
    """What torch.save wrote to `path`, a zip archive holding one `<name>/data.pkl`, read as `unpickle_arrays`
    reads a pickle file."""
    return _load(path, lambda: _torch_archive_pickle(path), kind, remedy)


@contextmanager
def _torch_archive_pickle(path):
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"a torch.save archive holds one <name>/data.pkl, this zip {len(pickles)}")
        with archive.open(pickles[0]) as handle:
            yield handle


def _load(path, open_pickle, kind, remedy):
    try:
        with open_pickle() as handle:
            return ArrayUnpickler(handle, encoding="latin1").load()
    except _Refused as refused:
        raise UserError(f"{path} asks the unpickler for {refused}, which no {kind} holds: it was not loaded; "
                        f"{remedy}") from None
    except Exception as error:  # a truncated or corrupt file fails in many ways; all mean the same here
        raise UserError(f"{path} is truncated or corrupt ({type(error).__name__}: {error}); {remedy}") from error
