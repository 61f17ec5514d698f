"""A noisy-label run resolved once (experiments/noisy_run.py): the identity records what makes the numbers, so the
same run spelled out is the same run; every flag does what it says, down to the batches the loop trains on;
what cannot run is refused in one line before anything is read or written."""
import json

import numpy as np
import pytest
import torch

from code_used_upload import train_hmw
from code_used_upload.configs.identity import OtherSettingsError, identity, refuse_other_settings
from code_used_upload.data.cifar import write_cifar_standin
from code_used_upload.errors import UserError
from code_used_upload.experiments.noisy_run import HMWOptions, RunOptions, parse_task, resolve_run
from code_used_upload.models import noisy as noisy_models
from code_used_upload.models.noisy import check_method
from code_used_upload.models.preact_resnet import PreActResNet
from code_used_upload.training import noisy_labels as noisy_loop
from code_used_upload.training.augment import normalise
from code_used_upload.training.settings import RunSettings
from test_imagefolder import write_images

DIGITS = parse_task("digits/sym0.4")
CIFAR10 = parse_task("cifar10/sym0.5")
ASKED = RunSettings(batch_size=None)


def same_identity(run, other):
    return run.identity(ASKED, "d" * 64, "n" * 64) == other.identity(ASKED, "d" * 64, "n" * 64)


def test_the_same_run_spelled_out_is_the_same_run():
    plain = resolve_run(DIGITS, "cce", 0)
    spelled = resolve_run(DIGITS, "cce", 0, RunOptions(lr=0.02, milestones=(50, 80), warm_up=5, cv_n_folds=3),
                          HMWOptions(alpha=50), RunSettings(epochs=100, batch_size=32))
    assert same_identity(plain, spelled)  # the recipe's own values, and options cce does not use (its warm-up too)
    assert not same_identity(resolve_run(DIGITS, "hmw+cce", 0), resolve_run(DIGITS, "hmw+cce", 0, RunOptions(warm_up=5)))
    authors = resolve_run(CIFAR10, "hmw+cce", 123, RunOptions(milestones=(125, 200)), settings=RunSettings(epochs=250))
    assert same_identity(resolve_run(CIFAR10, "hmw+cce", 123), authors)  # their README's explicit defaults
    for other in (resolve_run(DIGITS, "cce", 0, RunOptions(lr=0.01)), resolve_run(DIGITS, "cce", 0, RunOptions(augment="shift")),
                  resolve_run(DIGITS, "cce", 0, settings=RunSettings(epochs=50)), resolve_run(DIGITS, "cce", 1)):
        assert not same_identity(plain, other)  # another rate, view, length or seed is another run


def test_a_run_records_only_the_options_its_method_uses():
    records = {method: resolve_run(DIGITS, method, 0).record() for method in
               ("cce", "sce", "hmw+cce", "hmw+sce", "cleanlab", "uc", "hmw+uc")}
    options = {method: {"hmw", "sce", "cv_n_folds"} & set(record) for method, record in records.items()}
    assert options == {"cce": set(), "sce": {"sce"}, "hmw+cce": {"hmw"}, "hmw+sce": {"hmw", "sce"},
                       "cleanlab": {"cv_n_folds"}, "uc": set(), "hmw+uc": {"hmw"}}
    assert records["uc"]["recipe"]["epochs"] == 41 and records["uc"]["recipe"]["warmup_batch_size"] == 32
    assert resolve_run(parse_task("cifar100/sym0.5"), "sce", 0).sce == (6.0, 0.1)  # the authors' CIFAR-100 (a, b)


def test_views_resolve_as_asked_and_follow_the_side_for_unicon_too():
    own = parse_task("imagefolder/none")
    assert resolve_run(CIFAR10, "cce", 0, RunOptions(augment="none")).recipe.augment is None  # was dropped before
    assert resolve_run(CIFAR10, "cce", 0).recipe.augment == "crop_flip"
    for side, arch, weak, strong in ((16, "preact_resnet18", "shift", "shift_scale"),
                                     (32, "preact_resnet18", "crop_flip", "cifar10_policy"),
                                     (96, "resnet18", "crop_flip", "cifar10_policy")):
        for method in ("hmw+cce", "uc"):  # uc's recipe was left at crop_flip at 16 px, and refused the flag not given
            run = resolve_run(own, method, 0, RunOptions(image_size=side, arch=None if side > 16 else arch))
            recipe = run.recipe
            assert run.arch == arch and (recipe.augment if method == "hmw+cce" else recipe.weak_view) == weak
        assert recipe.strong_view == strong
    with pytest.raises(UserError, match="--augment none with --method hmw\\+uc"):
        resolve_run(CIFAR10, "hmw+uc", 0, RunOptions(augment="none"))


def test_methods_are_refused_on_too_few_classes():
    check_method("hmw+uc", 4) and check_method("hmw+cce", 3) and check_method("cce", 2)
    with pytest.raises(UserError, match="hmw\\+uc needs at least 4 classes.*use cce, sce, hmw\\+cce, hmw\\+sce, "
                                        "cleanlab, uc"):
        check_method("hmw+uc", 3)  # it passed before and stopped after the warm-up, in its mixup weights


def test_a_refusal_says_why_a_recorded_identity_differs():
    wanted = identity({"precision": "tf32"}, {"recipe": {"max_lr": 0.02}}, version=2)
    cases = [(None, "made before runs recorded their settings"),
             (identity({"epochs": "recipe"}, {"recipe": {"max_lr": 0.02}}), "made by another version of this toolkit"),
             (identity({"precision": "tf32"}, {}, version=2), "recipe (not recorded) -> {\"max_lr\": 0.02}"),
             (identity({"precision": "tf32"}, {"recipe": {"max_lr": 0.1}}, version=2), "recipe.max_lr 0.1 -> 0.02")]
    for recorded, said in cases:
        with pytest.raises(OtherSettingsError) as refused:
            refuse_other_settings("X", recorded, wanted, "--check_loc")
        assert said in str(refused.value) and ("made before" in said) == ("made before" in str(refused.value))
    refuse_other_settings("X", json.loads(json.dumps(wanted)), wanted, "--check_loc")  # the same: no refusal


def narrow_preact_resnet18(in_channels=3):
    return PreActResNet(widths=(4, 8, 8, 8), in_channels=in_channels)


@pytest.fixture
def trained_batches(monkeypatch):
    """Every batch the noisy-label loop trains on, beside the same rows merely normalised: (name, batch, plain)."""
    seen, real_view = [], noisy_loop.view

    def recording_view(name, images, rows, mean, std, generator):
        batch = real_view(name, images, rows, mean, std, generator)
        seen.append((name, batch, normalise(images.index_select(0, rows), mean, std)))
        return batch

    monkeypatch.setattr(noisy_loop, "view", recording_view)
    monkeypatch.setattr(noisy_models, "preact_resnet18", narrow_preact_resnet18)
    return seen


def colour_images(count, shade):
    rng = np.random.default_rng(shade)
    return [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) // 2 + shade for _ in range(count)]


@pytest.mark.parametrize("dataset", ["cifar10", "imagefolder"])
def test_augment_none_trains_without_a_view_and_the_default_keeps_crop_flip(tmp_path, trained_batches, dataset):
    if dataset == "cifar10":
        data = write_cifar_standin(tmp_path / "data", "cifar10", n_train=60, n_test=20, seed=0)
    else:
        data = write_images(tmp_path / "data", {"a": colour_images(8, 0), "b": colour_images(8, 60),
                                                "c": colour_images(8, 120)})
    common = ["--dataset", dataset, "--data_path", str(data), "--method", "cce", "--num_epochs", "1",
              "--batch_size", "16", "--device", "cpu", "--threads", "1"]
    for augment, flags in (("none", ["--augment", "none"]), ("crop_flip", [])):
        trained_batches.clear()
        folder = tmp_path / augment
        assert train_hmw.main([*common, *flags, "--check_loc", str(folder)]) == 0
        assert json.loads((folder / "cell.json").read_text())["recipe"]["augment"] == (None if augment == "none" else augment)
        names = {name for name, _, _ in trained_batches}
        unchanged = [torch.equal(batch, plain) for _, batch, plain in trained_batches]
        assert names == {None if augment == "none" else augment} and len(unchanged) >= 2
        # no view: every batch is its images, normalised; crop_flip: every batch moved or flipped some image
        assert all(unchanged) if augment == "none" else not any(unchanged)


def test_cifar_n_runs_on_cifars_labels_and_refuses_other_ones(tmp_path, capsys, shared_dir):
    import shutil

    from code_used_upload.data.cifar_n import NOISE_RATES, read_label_file
    from code_used_upload.data.images import ImageData
    from code_used_upload.experiments.noisy_data import run_labels

    data_path = tmp_path / "data"
    data_path.mkdir()
    shutil.copy(shared_dir / "cifar-n" / "CIFAR-10_human.pt", data_path)
    clean = read_label_file(data_path / "CIFAR-10_human.pt")["clean_label"]
    run = resolve_run(parse_task("cifar10/human-worst"), "hmw+cce", 0, data_path=data_path)
    cifar = ImageData("cifar10", None, clean.astype(np.int64), None, None, 10, (0.5,), (0.2,))  # CIFAR's own labels
    labels, is_noisy = run_labels(run, cifar)
    assert is_noisy.tolist() == (labels != clean).tolist() and round(is_noisy.mean(), 4) == NOISE_RATES["worst"]
    assert run.record()["label_set"] == "worst" and "r" not in run.record()
    write_cifar_standin(data_path / "standin", "cifar10", n_train=50, n_test=10, seed=0)  # labels not CIFAR's
    argv = ["--dataset", "cifar10", "--data_path", str(data_path / "standin"), "--noise_mode", "human", "--noise_type",
            "rand1", "--device", "cpu", "--check_loc", str(tmp_path / "run")]
    shutil.copy(shared_dir / "cifar-n" / "CIFAR-10_human.pt", data_path / "standin")
    assert train_hmw.main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"{data_path / 'standin' / 'CIFAR-10_human.pt'}: its clean_label" in error
    assert not (tmp_path / "run").exists()
    for flags, said in ((["--noise_mode", "human"], "--noise_mode human needs --noise_type"),
                        (["--noise_mode", "human", "--noise_type", "worst", "--r", "0.2"], "--r 0.2 with --noise_mode human"),
                        (["--noise_type", "worst"], "--noise_type worst: CIFAR-N's label set"),
                        (["--noise_mode", "human", "--noise_type", "noisy"], "cifar100/human-noisy")):
        assert train_hmw.main(["--dataset", "cifar10", "--check_loc", str(tmp_path / "run"), *flags]) == 2
        assert said in capsys.readouterr().err


def test_the_data_set_is_decoded_once_whatever_the_call(tmp_path, monkeypatch):
    from code_used_upload.experiments import noisy_data

    folder = write_images(tmp_path / "images", {"a": colour_images(4, 0), "b": colour_images(4, 90)})
    reads = []
    real = noisy_data.load_image_folder
    monkeypatch.setattr(noisy_data, "load_image_folder", lambda *args, **kwargs: reads.append(1) or real(*args, **kwargs))
    first = noisy_data.load_images("imagefolder", str(folder), image_size=None, val_fraction=0.5)
    again = noisy_data.load_images("imagefolder", folder, True, 32, 0.5)  # positional, a Path, the defaults spelt out
    assert again is first and len(reads) == 1  # the grid called it both ways and decoded the folder twice
    noisy_data.loaded_fingerprint("imagefolder", folder, 32, 0.5)
    assert len(reads) == 1


def test_what_the_schedule_never_reaches_is_the_same_run():
    """Milestones at or past the last epoch change nothing, nor their order, nor a warm-up longer than the run."""
    short = RunSettings(epochs=3)
    base = resolve_run(DIGITS, "hmw+cce", 0, RunOptions(milestones=(2, 5), warm_up=3), settings=short)
    for options in (RunOptions(milestones=(5, 2), warm_up=3), RunOptions(milestones=(2, 60, 90), warm_up=100)):
        assert same_identity(base, resolve_run(DIGITS, "hmw+cce", 0, options, settings=short))
    assert base.recipe.milestones == (2,) and base.recipe.unweighted_epochs == 3
    unicon = resolve_run(DIGITS, "uc", 0, RunOptions(milestones=(3, 9), warm_up=1), settings=short)
    assert unicon.recipe.milestones == (3,)  # UniCon's 0..3 reaches epoch 3
