"""CIFAR-10N and CIFAR-100N (Wei et al., "Learning with Noisy Labels Revisited: A Study Using Real-World Human
Annotations", ICLR 2022): people's labels for CIFAR's 50,000 training images, the real-noise benchmark.

The labels are two files of the authors' repository, UCSC-REAL/cifar-10-100n, `data/CIFAR-10_human.pt` and
`data/CIFAR-100_human.pt`, under CC BY-NC 4.0: this project ships neither, and downloads the one a run needs
into its data folder, as it downloads CIFAR. The URL names the repository's commit, and the file's SHA-256 is
checked, so that every run reads the same labels. (CIFAR-100_human.pt before that repository's commit
199b915 of March 2023 had other coarse labels, and so another hash: it is refused; its fine labels are the same.)

Each file is what torch.save writes of a dict of numpy arrays: `clean_label`, CIFAR's own training labels,
and one array of people's labels per label set (the keys in LABEL_KEYS), index i being training image i of
CIFAR's python version. It is read with data/restricted_pickle.py's unpickler, never with `torch.load`'s
unrestricted one. `data.noise.cifar_n_labels` gives a label set's labels.
"""
import hashlib
import http.client
import urllib.request
from pathlib import Path

from code_used_upload.data.restricted_pickle import torch_load_arrays
from code_used_upload.errors import UserError
from code_used_upload.files import write_atomically

REPOSITORY = "UCSC-REAL/cifar-10-100n"
COMMIT = "49df7d8a69e355470c77c1c2f2424916325a394b"  # 2023-05-17, the newest; the files last changed in 199b915
FILES = {"cifar10": "CIFAR-10_human.pt", "cifar100": "CIFAR-100_human.pt"}
SHA256 = {"cifar10": "873e69c39cb9b5e97fb6bae2d60bb59b38a5cbc31d2b868f7903dcb2b9dd2310",
          "cifar100": "bd2d80409754d420292d622e15e25248ba21e37d27429efac49c8da723f44394"}
# our name of a label set -> the file's key; "worst" is the paper's name, worse_label the file's
LABEL_KEYS = {"aggre": "aggre_label", "worst": "worse_label", "random1": "random_label1",
              "random2": "random_label2", "random3": "random_label3", "noisy": "noisy_label"}
LABEL_SETS = {"cifar10": ("aggre", "worst", "random1", "random2", "random3"), "cifar100": ("noisy",)}
# the fraction of labels that differ from clean_label in the released files, to 0.01%; a test checks them
NOISE_RATES = {"aggre": 0.0901, "worst": 0.4021, "random1": 0.1723, "random2": 0.1812, "random3": 0.1764,
               "noisy": 0.4020}
DOWNLOAD_TIMEOUT_S = 60


def source_url(dataset):
    return f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/data/{FILES[dataset]}"


def cifar_n_file(data_path, dataset, download=True):
    """`<data_path>/CIFAR-10_human.pt` ("cifar10") or `CIFAR-100_human.pt` ("cifar100"), downloaded there first
    when it is missing (unless `download` is False); a UserError when it is not the release's file."""
    if dataset not in FILES:
        raise UserError(f"CIFAR-N has no data set {dataset!r}: use one of {', '.join(FILES)}")
    path = Path(data_path) / FILES[dataset]
    if not path.is_file():
        if not download:
            raise UserError(f"{path} is missing: {_how_to_get(dataset, path)}, or let the run download it")
        _download(dataset, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256[dataset]:
        raise UserError(f"{path} is not CIFAR-N's {FILES[dataset]} (SHA-256 {digest}, the release's is "
                        f"{SHA256[dataset]}): delete it and run again to download it, or {_how_to_get(dataset, path)}")
    return path


def read_label_file(path):
    """The dict a CIFAR-N label file holds, read by the restricted unpickler."""
    return torch_load_arrays(path, "CIFAR-N label file", "delete it and run again to download it afresh")


def _how_to_get(dataset, path):
    return f"download {source_url(dataset)} and put it at {path}"


def _download(dataset, path):
    """Fetch the file, check its SHA-256 and only then write it, under a temporary name renamed into place: an
    interrupted or wrong download leaves no file that looks complete."""
    url = source_url(dataset)
    print(f"downloading {url} to {path}")
    try:
        content = _fetch(url)
    except (OSError, http.client.HTTPException) as error:  # no network, refused, timed out, an HTTP error, cut short
        raise UserError(f"could not download CIFAR-N's {FILES[dataset]} from {url} ({error}): on a machine with "
                        f"a network connection, {_how_to_get(dataset, path)}") from error
    digest = hashlib.sha256(content).hexdigest()
    if digest != SHA256[dataset]:
        raise UserError(f"what {url} gave is not CIFAR-N's {FILES[dataset]} (SHA-256 {digest}, the release's is "
                        f"{SHA256[dataset]}); nothing was written: {_how_to_get(dataset, path)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda file: file.write(content))
    except OSError as error:
        raise UserError(f"could not write {path} ({error}): make {path.parent} writable, or "
                        f"{_how_to_get(dataset, path)}") from error


def _fetch(url):
    """The bytes at `url`: 2.4 MB at the most, so held in memory and hashed before anything is written."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        return response.read()
