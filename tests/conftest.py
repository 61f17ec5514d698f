"""Shared fixtures: the read-only real PTB-XL slice in ../shared and small synthetic PTB-XLs."""

import importlib.util
from pathlib import Path

import pytest
import torch

from code_used_upload.data.synthetic import write_synthetic_ptbxl

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir():
    """../shared beside the repository: the real PTB-XL 1.0.1 slice and the benchmark's artefacts."""
    shared = REPO.parent / "shared"
    if not (shared / "ptbxl-sample" / "ptbxl_database.csv").is_file():
        pytest.fail(f"{shared} with ptbxl-sample/ is needed by this test: place the project's shared data there.")
    return shared


@pytest.fixture(scope="session")
def synthetic_ptbxl(tmp_path_factory):
    """A synthetic PTB-XL of 600 records at 100 Hz (seed 0): enough to train and test on."""
    return write_synthetic_ptbxl(tmp_path_factory.mktemp("synthetic_ptbxl"), n_records=600, seed=0, sampling_frequencies=(100,))


@pytest.fixture(scope="session")
def synthetic_ptbxl_both_rates(tmp_path_factory):
    """A small synthetic PTB-XL (60 records) at 100 and 500 Hz, for loader tests."""
    return write_synthetic_ptbxl(tmp_path_factory.mktemp("synthetic_ptbxl_both"), n_records=60, seed=0, sampling_frequencies=(100, 500))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models and images: two threads on a shared machine only wait for each other. A module asks for
    it with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def shared_ray():
    """One local Ray for a module's Ray tests, started as the executor starts one: each start costs about 7 s
    here (4 s to start, 2 s for the first workers to import torch, 1 s to stop), and the executor uses a Ray
    its process already runs and leaves it running. Per module, not per session: an idle Ray still takes
    about 5% of a core, and the tests of the other modules ran 16% and 22% slower in a suite where it idled beside them. Skips the
    test where Ray is not installed."""
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
    from code_used_upload.experiments.ray_executor import start_ray

    started = start_ray(ray, None)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def ray_where_installed(request):
    """The executor flags of a module's longer grids: Ray where it is installed (as in CI), on the module's
    shared Ray, so that one-thread runs go two at a time; none (the local executor) where it is not."""
    if importlib.util.find_spec("ray") is None:
        return []
    request.getfixturevalue("shared_ray")
    return ["--executor", "ray"]


@pytest.fixture
def interrupt_noisy_run(monkeypatch):
    """interrupt(epochs): the noisy-label runs that follow stop as Ctrl-C would, when the epoch after `epochs`
    finished ones is evaluated (their checkpoint then holds `epochs` epochs); interrupt(None) lets them run."""
    from code_used_upload.experiments import noisy_cell as noisy_experiment

    real_accuracy = noisy_experiment.test_accuracy

    def interrupt(epochs):
        evaluated = []

        def accuracy_until_interrupted(*args, **kwargs):
            if len(evaluated) == epochs:
                raise KeyboardInterrupt
            evaluated.append(1)
            return real_accuracy(*args, **kwargs)

        monkeypatch.setattr(noisy_experiment, "test_accuracy", real_accuracy if epochs is None else accuracy_until_interrupted)

    return interrupt
