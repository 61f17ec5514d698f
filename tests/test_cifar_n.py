"""CIFAR-N's real label files (../shared/cifar-n): every label set read as torch itself reads the files, the
published noise rates, training labels of another order refused, tampered and damaged files refused without
running anything, and the download (its fetcher replaced: no network here)."""
import os
import pickle
import urllib.error
import zipfile

import numpy as np
import pytest
import torch

from code_used_upload.data import cifar_n
from code_used_upload.data.cifar_n import FILES, LABEL_KEYS, LABEL_SETS, NOISE_RATES, cifar_n_file
from code_used_upload.data.noise import cifar_n_labels
from code_used_upload.errors import UserError

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

CASES = [(dataset, label_set) for dataset, sets in LABEL_SETS.items() for label_set in sets]


@pytest.fixture(scope="session")
def cifar_n_dir(shared_dir):
    return shared_dir / "cifar-n"


@pytest.fixture(scope="session")
def torch_read(cifar_n_dir):
    """Both files as torch.load reads them, its weights-only unpickler admitting numpy's array types (the
    files pickle _reconstruct under numpy 1's module name): a reader independent of the project's."""
    numpy_types = [(_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype, type(np.dtype(np.int64))]
    with torch.serialization.safe_globals(numpy_types):
        return {dataset: torch.load(cifar_n_dir / name, weights_only=True) for dataset, name in FILES.items()}


@pytest.mark.parametrize("dataset, label_set", CASES)
def test_each_label_set_is_the_files_own_at_its_published_rate(cifar_n_dir, torch_read, dataset, label_set):
    content = torch_read[dataset]
    labels = cifar_n_labels(cifar_n_dir / FILES[dataset], label_set, content["clean_label"])
    assert labels.dtype == np.int64 and labels.shape == (50_000,)
    np.testing.assert_array_equal(labels, content[LABEL_KEYS[label_set]])
    # the rate the paper publishes, to its 0.01%: 9.01, 40.21, 17.23, 18.12, 17.64; 40.20
    assert round(float(np.mean(labels != content["clean_label"])), 4) == NOISE_RATES[label_set]


@pytest.mark.parametrize("dataset", FILES)
def test_the_label_sets_are_the_files_keys(torch_read, dataset):
    people = {key for key in torch_read[dataset] if key != "clean_label" and "coarse" not in key}
    assert people == {LABEL_KEYS[label_set] for label_set in LABEL_SETS[dataset]}


def test_training_labels_of_another_order_or_set_are_refused_naming_the_file(cifar_n_dir, torch_read):
    path = cifar_n_dir / FILES["cifar10"]
    clean = torch_read["cifar10"]["clean_label"]
    shuffled = clean[np.random.default_rng(0).permutation(len(clean))]
    for other, complaint in [(shuffled, "of the 50000 training labels differ"),
                             (torch_read["cifar100"]["clean_label"], "of the 50000 training labels differ"),
                             (clean[:500], "500 training labels, the file 50000")]:
        with pytest.raises(UserError, match=complaint) as refused:
            cifar_n_labels(path, "worst", other)
        assert str(refused.value).startswith(f"{path}: its clean_label is not these training labels")


def test_a_label_set_the_file_lacks_is_named_with_those_it_has(cifar_n_dir, torch_read):
    for dataset, label_set, sets in [("cifar10", "noisy", "aggre, worst, random1, random2, random3"),
                                     ("cifar100", "worse", "noisy")]:
        path = cifar_n_dir / FILES[dataset]
        with pytest.raises(UserError) as refused:
            cifar_n_labels(path, label_set, torch_read[dataset]["clean_label"])
        assert str(refused.value) == f"{path} has no label set {label_set!r}: it has {sets}"


class RunsACommand:
    """Unpickled, it runs `command` in a shell."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_tampered_file_is_refused_and_its_call_never_runs(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "CIFAR-10_human.pt"
    torch.save({"clean_label": np.arange(4), "aggre_label": np.arange(4), "x": RunsACommand(f"touch {target}")}, path)
    with pytest.raises(UserError) as refused:
        cifar_n_labels(path, "aggre", np.arange(4))
    assert str(refused.value).startswith(f"{path} asks the unpickler for posix.system, which no CIFAR-N label file "
                                         f"holds: it was not loaded")
    assert not target.exists()
    with zipfile.ZipFile(path) as archive:
        member = next(name for name in archive.namelist() if name.endswith("/data.pkl"))
        pickle.loads(archive.read(member))  # the test's own file, unpickled unrestricted: the payload is live
    assert target.exists()


def test_tensors_and_damaged_files_are_refused_naming_the_file(tmp_path, cifar_n_dir):
    tensors = tmp_path / "tensors.pt"
    torch.save({"clean_label": torch.arange(4)}, tensors)
    with pytest.raises(UserError, match="asks the unpickler for torch._utils._rebuild_tensor_v2") as refused:
        cifar_n_labels(tensors, "aggre", np.arange(4))
    assert str(tensors) in str(refused.value)
    truncated = tmp_path / FILES["cifar100"]
    truncated.write_bytes((cifar_n_dir / FILES["cifar100"]).read_bytes()[:500_000])
    with pytest.raises(UserError, match="is truncated or corrupt .BadZipFile") as refused:
        cifar_n_labels(truncated, "noisy", np.arange(4))
    assert str(truncated) in str(refused.value)


def test_a_missing_file_is_downloaded_checked_and_written_whole(tmp_path, monkeypatch, cifar_n_dir, torch_read):
    fetched = []

    def fetch(url):
        fetched.append(url)
        return (cifar_n_dir / FILES["cifar100"]).read_bytes()

    monkeypatch.setattr(cifar_n, "_fetch", fetch)
    data = tmp_path / "data"
    path = cifar_n_file(data, "cifar100")
    assert path == data / "CIFAR-100_human.pt" and os.listdir(data) == ["CIFAR-100_human.pt"]  # no partial file left
    assert fetched == ["https://raw.githubusercontent.com/UCSC-REAL/cifar-10-100n/"
                       "49df7d8a69e355470c77c1c2f2424916325a394b/data/CIFAR-100_human.pt"]
    assert path.read_bytes() == (cifar_n_dir / FILES["cifar100"]).read_bytes()
    clean = torch_read["cifar100"]["clean_label"]
    np.testing.assert_array_equal(cifar_n_labels(path, "noisy", clean), torch_read["cifar100"]["noisy_label"])
    assert cifar_n_file(data, "cifar100") == path and len(fetched) == 1  # present: not fetched again


def test_a_wrong_download_writes_nothing_and_offline_is_one_line(tmp_path, monkeypatch):
    url = cifar_n.source_url("cifar10")
    data = tmp_path / "data"
    monkeypatch.setattr(cifar_n, "_fetch", lambda url: b"<html>rate limited</html>")
    wrong = "is not CIFAR-N's CIFAR-10_human.pt .SHA-256 [0-9a-f]{64}, the release's is 873e69c3.*nothing was written"
    with pytest.raises(UserError, match=wrong):
        cifar_n_file(data, "cifar10")
    assert not data.exists()  # the hash is checked before anything is written

    def offline(url):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(cifar_n, "_fetch", offline)
    with pytest.raises(UserError) as refused:
        cifar_n_file(data, "cifar10")
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"could not download CIFAR-N's CIFAR-10_human.pt from {url}")
    assert message.endswith(f"download {url} and put it at {data / 'CIFAR-10_human.pt'}")
    with pytest.raises(UserError, match="CIFAR-100_human.pt is missing: download https://raw"):
        cifar_n_file(data, "cifar100", download=False)
    with pytest.raises(UserError, match="CIFAR-N has no data set 'mnist'"):
        cifar_n_file(data, "mnist")


@pytest.mark.parametrize("dataset", FILES)
def test_the_real_files_have_the_hashes_checked(cifar_n_dir, dataset):
    assert cifar_n_file(cifar_n_dir, dataset, download=False) == cifar_n_dir / FILES[dataset]


def test_a_present_file_with_the_wrong_hash_is_refused_and_kept(tmp_path, cifar_n_dir, monkeypatch):
    monkeypatch.setattr(cifar_n, "_fetch", lambda url: pytest.fail("a present file is never downloaded over"))
    path = tmp_path / FILES["cifar10"]
    damaged = bytearray((cifar_n_dir / FILES["cifar10"]).read_bytes())
    damaged[-1000] ^= 1
    path.write_bytes(damaged)
    with pytest.raises(UserError) as refused:
        cifar_n_file(tmp_path, "cifar10")
    assert str(refused.value).startswith(f"{path} is not CIFAR-N's CIFAR-10_human.pt (SHA-256 ")
    assert "delete it and run again to download it" in str(refused.value)
    assert path.read_bytes() == damaged
