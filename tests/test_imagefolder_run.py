"""HMW on your own images (train_hmw.py --dataset imagefolder): the misplaced images of a folder found by
label_issues.csv, the run's identity, each bad input one line before anything is written, and the file
beside every run (the digits' rows named by their index)."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from code_used_upload import train_hmw
from code_used_upload.errors import UserError
from code_used_upload.experiments.noisy import parse_task
from code_used_upload.models.noisy import noisy_setup
from code_used_upload.models.preact_resnet import preact_resnet18
from code_used_upload.reports.label_issues import CLEANLAB_COLUMNS, write_label_issues
from test_imagefolder import grey, write_images  # the loader's tests' small image folders

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
MISPLACED = 0.4
# 40 epochs instead of the MLP recipe's 100 (milestones and warm-up scaled alike): 40% of the training time,
# and every bound below keeps a wide margin (the full recipe: AUROC 0.9998, precision 0.94, recall 1.00)
SHORT = ["--num_epochs", "40", "--milestones", "20/32", "--warm_up", "5"]


def write_misplaced_digits(root, fraction):
    """All 1,797 of scikit-learn's digits as 8 x 8 grey PNGs (0..16 scaled to 0..240) in a folder per
    class, `fraction` of them (seeded) in a wrong class's folder; returns the folder and the misplaced paths."""
    digits = load_digits()
    rng = np.random.default_rng(0)
    wrong = rng.permutation(len(digits.target))[: int(fraction * len(digits.target))]
    folders = digits.target.copy()
    folders[wrong] = (folders[wrong] + rng.integers(1, 10, len(wrong))) % 10  # any class but the true one
    for name in NAMES:
        (root / name).mkdir(parents=True)
    for i, (pixels, folder) in enumerate(zip(digits.images, folders)):
        Image.fromarray((pixels * 15).astype(np.uint8), "L").save(root / NAMES[folder] / f"{i:04d}.png")
    return root, {f"{NAMES[folders[i]]}/{i:04d}.png" for i in wrong}


@pytest.fixture(scope="module")
def misplaced_digits(tmp_path_factory):
    return write_misplaced_digits(tmp_path_factory.mktemp("misplaced_digits"), MISPLACED)


def flags_of(table, misplaced):
    """label_issues.csv's flags, whether each row is misplaced, and the recall of the flags."""
    flagged, is_misplaced = table["flagged"].to_numpy(), table["path"].isin(misplaced).to_numpy()
    return flagged, is_misplaced, (flagged & is_misplaced).sum() / max(is_misplaced.sum(), 1)


def one_error_line(capsys):
    error = capsys.readouterr().err.strip()
    assert "Traceback" not in error and len(error.splitlines()) == 1, error
    return error


def test_label_issues_find_the_misplaced_digits(misplaced_digits, tmp_path, capsys):
    root, misplaced = misplaced_digits
    out = tmp_path / "run"
    command = ["--dataset", "imagefolder", "--data_path", str(root), "--arch", "mlp", "--image_size", "8",
               "--method", "hmw+cce", "--check_loc", str(out), "--device", "cpu", *SHORT]
    assert train_hmw.main(command) == 0
    table = pd.read_csv(out / "label_issues.csv")
    assert len(table) == 1797 - math.ceil(0.1 * 1797)  # every training image once; 10% held out
    assert table["rank"].tolist() == list(range(1, len(table) + 1)) and table["weight"].is_monotonic_increasing
    assert (table["given_label"] == table["path"].str.split("/").str[0]).all()  # the folder's name, as given
    assert set(table["predicted_label"]) <= set(NAMES) and all((root / path).is_file() for path in table["path"])
    flagged, is_misplaced, recall = flags_of(table, misplaced)
    auroc = roc_auc_score(is_misplaced, -table["weight"])
    # measured on the project's 2-core machine (seed 123): AUROC 0.998 (bound 0.90); 624 flagged for 630 misplaced
    # (0.99 per misplaced image; the issue's bound 1.4), precision 0.98, recall 0.975 (bound 0.85, the issue's);
    # seeds 3, 4: 1.00 and 0.99 per misplaced image, recall 0.98 and 0.97 (reports/suspect_group.py)
    assert auroc >= 0.90 and flagged.sum() <= 1.4 * is_misplaced.sum() and recall >= 0.85, \
        (auroc, flagged.sum(), is_misplaced.sum(), recall)

    record = json.loads((out / "cell.json").read_text())
    assert (record["dataset"], record["noise_mode"], record["r"], record["arch"]) == ("imagefolder", "none", 0.0, "mlp")
    assert record["noisy_fraction"] == 0.0 and record["recipe"]["augment"] == "shift"
    assert record["recipe"]["unweighted_epochs"] == 5 and record["label_issues_flagged"] == flagged.sum()
    cell = record["identity"]["cell"]  # the run as resolved: the network, the side, the share held out, the warm-up
    assert (cell["arch"], cell["image_size"], cell["val_fraction"], cell["recipe"]["unweighted_epochs"]) == \
        ("mlp", 8, 0.1, 5)
    assert "hmw" in cell and "cv_n_folds" not in cell and "sce" not in cell  # only the options hmw+cce uses

    written = {path: path.read_bytes() for path in out.iterdir()}
    capsys.readouterr()
    assert train_hmw.main(command) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {path: path.read_bytes() for path in out.iterdir()} == written
    resized = [*command]
    resized[resized.index("--image_size") + 1] = "16"
    assert train_hmw.main(resized) == 2
    assert "image_size 8 -> 16" in one_error_line(capsys)
    assert {path: path.read_bytes() for path in out.iterdir()} == written


def flags_of_a_run(tmp_path, fraction, seed):
    root, misplaced = write_misplaced_digits(tmp_path / "digits", fraction)
    out = tmp_path / "run"
    assert train_hmw.main(["--dataset", "imagefolder", "--data_path", str(root), "--arch", "mlp", "--image_size", "8",
                           "--method", "hmw+cce", "--seed", str(seed), "--check_loc", str(out), "--device", "cpu",
                           *SHORT]) == 0
    return flags_of(pd.read_csv(out / "label_issues.csv"), misplaced)


def test_the_flag_counts_about_as_many_images_as_are_misplaced(tmp_path):
    flagged, is_misplaced, recall = flags_of_a_run(tmp_path, 0.2, seed=3)
    # measured (seed 3): 324 flagged for 321 misplaced (1.01 per misplaced image; the issue's bound 1.4), recall 0.99
    # (bound 0.85); seeds 4, 123: 1.00, 1.00 and recall 0.99, 0.99. weight < 0.5 flagged 1.37-1.41 per image
    assert flagged.sum() <= 1.4 * is_misplaced.sum() and recall >= 0.85, (flagged.sum(), is_misplaced.sum(), recall)


def test_the_flag_stays_quiet_on_a_folder_without_misplaced_images(tmp_path):
    flagged, is_misplaced, _ = flags_of_a_run(tmp_path, 0.0, seed=4)
    # measured (seeds 3, 4, 123): 0 of 1,617 flagged (bound 16, 1%); weight < 0.5 flagged 99-105
    assert not is_misplaced.any() and flagged.sum() <= 16, flagged.sum()


def two_classes(root):
    return write_images(root, {"cat": [grey(10 * i) for i in range(4)], "dog": [grey(200 - 10 * i) for i in range(4)]})


def missing(root):
    return root / "nowhere"


def one_class(root):
    return write_images(root, {"cat": [grey(0), grey(1)]})


def empty_class(root):
    two_classes(root)
    (root / "eel").mkdir()
    return root


def corrupt_image(root):
    two_classes(root)
    (root / "dog" / "broken.png").write_bytes(b"\x00garbage, not a PNG")
    return root


@pytest.mark.parametrize("make, flags, named", [
    (missing, [], "{root} is not a folder"),
    (one_class, [], "{root} has 1 class folder (cat)"),
    (empty_class, [], "{root}/eel holds no image files"),
    (corrupt_image, [], "{root}/dog/broken.png (class dog) is not a readable image"),
    (two_classes, ["--num_class", "3"], "--num_class 3: {root} has 2 class folders (cat, dog)"),
    (two_classes, ["--r", "0.4"], "--r 0.4 with --noise_mode none"),
    (two_classes, ["--noise_mode", "asym", "--r", "0.4"], "asym noise is defined for 10 classes"),
    (two_classes, ["--arch", "vit"], "--arch vit: use one of preact_resnet18, mlp, resnet18, resnet50"),
    (two_classes, ["--augment", "none", "--method", "uc"], "--augment none with --method uc: UniCon trains on weak"),
    (two_classes, ["--warm_up", "-1"], "--warm_up -1"),
    (two_classes, ["--method", "hmw+sce"], "--method hmw+sce needs at least 3 classes"),
    (two_classes, ["--pretrained"], "--pretrained: preact_resnet18 has no pretrained weights"),
], ids=["missing", "one-class", "empty-class", "corrupt", "num-class", "r-without-noise", "asym-2-classes", "arch",
        "uc-without-view", "warm-up", "hmw-2-classes", "pretrained-mlp"])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, make, flags, named):
    root = make(tmp_path / "images")
    runs = tmp_path / "runs"
    argv = ["--dataset", "imagefolder", "--data_path", str(root), "--val_fraction", "0.5", "--num_epochs", "1",
            "--method", "cce", "--check_loc", str(runs / "run"), "--device", "cpu", *flags]  # two classes: no HMW
    assert train_hmw.main(argv) == 2
    assert named.format(root=root) in one_error_line(capsys)
    assert not runs.exists()  # no run folder, no checkpoint, no workspace beside it


@pytest.mark.parametrize("flags, dataset, named", [
    (["--arch", "mlp"], "digits", "--arch mlp: digits trains the network fixed for it (mlp)"),
    (["--image_size", "16"], "cifar10", "--image_size 16: for your own images"),
])
def test_the_folder_flags_are_refused_where_the_network_and_images_are_fixed(tmp_path, capsys, flags, dataset, named):
    assert train_hmw.main(["--dataset", dataset, "--check_loc", str(tmp_path / "run"), "--device", "cpu", *flags]) == 2
    assert named in one_error_line(capsys) and not (tmp_path / "run").exists()


def colour(red, size=5):
    pixels = np.zeros((size, size, 3), dtype=np.uint8)
    pixels[..., 0] = red
    return pixels


@pytest.mark.parametrize("images, flags, arch, augment, inputs", [
    # grey and colour files: converted to RGB; 32 px: the PreAct-ResNet18 with CIFAR's crop and flip
    ({"ant": [grey(60, 5), colour(90), colour(100)], "bee": [grey(200, 5), colour(220), colour(230)],
      "cow": [colour(10), colour(20), grey(30, 5)]}, [],
     "preact_resnet18", "crop_flip", 3),  # inputs: the first convolution's channels, or the MLP's C*H*W
    ({"ant": [grey(10 * i) for i in range(6)], "bee": [grey(250 - 10 * i) for i in range(6)]},
     ["--image_size", "4", "--method", "cleanlab", "--cv_n_folds", "2"], "mlp", "shift", 16),
], ids=["mixed-channels-preact-32px", "mlp-4px-cleanlab"])
def test_each_arch_trains_on_the_images_channels_and_size(tmp_path, images, flags, arch, augment, inputs):
    root = write_images(tmp_path / "images", images)
    out = tmp_path / "run"
    argv = ["--dataset", "imagefolder", "--data_path", str(root), "--val_fraction", "0.34", "--num_epochs", "1",
            "--milestones", "1", "--check_loc", str(out), "--device", "cpu", *flags]
    assert train_hmw.main(argv) == 0
    record = json.loads((out / "cell.json").read_text())
    assert (record["arch"], record["recipe"]["augment"], record["identity"]["cell"]["arch"]) == (arch, augment, arch)
    weights = torch.load(out / "model.pt", weights_only=True)
    assert next(value for key, value in weights.items() if key.startswith("backbone.")).shape[1] == inputs
    table = pd.read_csv(out / "label_issues.csv")
    count = sum(map(len, images.values()))
    assert len(table) == count - math.ceil(0.34 * count) and set(table["given_label"]) == set(images)
    assert (table["given_label"] == table["path"].str.split("/").str[0]).all()
    if record["method"] == "cleanlab":  # ranked by cleanlab's label quality, flagged as cleanlab flagged
        assert "label_quality" in table and table["label_quality"].is_monotonic_increasing
        assert table["flagged"].sum() == record["flagged"]


def test_each_arch_takes_any_channels_and_side_with_a_view_that_fits():
    """The trainer names the arch; models/noisy.py picks the network, its input and its recipe's view."""
    torch.manual_seed(0)
    grey_net = noisy_setup("imagefolder", "preact_resnet18", 16).backbone((1, 16, 16))
    assert grey_net(torch.rand(2, 1, 16, 16)).shape == (2, 512) and grey_net(torch.rand(2, 1, 8, 8)).shape == (2, 512)
    assert sum(p.numel() for p in preact_resnet18().parameters()) == 11_166_144  # 3 channels: the authors' network
    for size, arch, view in ((31, "mlp", "shift"), (32, "preact_resnet18", "crop_flip"), (48, "preact_resnet18", "shift"),
                             (64, "resnet18", "crop_flip"), (224, "resnet18", "crop_flip")):
        setup = noisy_setup("imagefolder", None, size)
        assert (setup.arch, setup.view_for(setup.recipe.augment, size)) == (arch, view)
        assert setup.view_for(setup.unicon_recipe.augment, size) == view  # UniCon's view follows the side alike
    assert noisy_setup("imagefolder", "mlp", 8).backbone((3, 8, 8))(torch.rand(2, 3, 8, 8)).shape == (2, 256)
    assert noisy_setup("digits").recipe.augment is None  # the digits demo keeps its recipe


def test_every_run_writes_label_issues_the_digits_rows_named_by_index(tmp_path):
    out = tmp_path / "run"
    assert train_hmw.main(["--dataset", "digits", "--noise_mode", "sym", "--r", "0.4", "--method", "cce",
                           "--num_epochs", "2", "--milestones", "1", "--check_loc", str(out), "--device", "cpu"]) == 0
    table = pd.read_csv(out / "label_issues.csv")
    noise = np.load(out / "noise.npz")
    assert sorted(table["path"]) == list(range(1257))  # the training row, as in noise.npz and weights.npz
    assert (table["given_label"] == noise["noisy_labels"][table["path"]]).all()
    assert table["weight"].isna().all() and table["aum"].is_monotonic_increasing  # cce: ranked by AUM
    record = json.loads((out / "cell.json").read_text())
    # the identity records the run as resolved, and only the options its method uses: none of HMW's for cce
    assert sorted(record["identity"]["table"]) == ["precision"] and record["identity"]["version"] == 2
    assert {"hmw", "cv_n_folds", "sce", "val_fraction", "pretrained"}.isdisjoint(record["identity"]["cell"])
    assert record["arch"] == "mlp" and record["recipe"]["augment"] is None


def test_a_cleanlab_run_is_ranked_by_its_label_quality_and_flagged_as_it_flagged(tmp_path):
    table = write_label_issues(tmp_path / "label_issues.csv", ["a", "b", "c"], [0, 1, 2], [0, 2, 2], [np.nan] * 3,
                               [0.4, np.nan, -0.2], quality=[0.9, 0.1, 0.3], issues=[False, True, False])
    assert list(table.columns) == CLEANLAB_COLUMNS and table["path"].tolist() == ["b", "c", "a"]
    assert table["flagged"].tolist() == [True, False, False]  # cleanlab's flags, not AUM < 0
    with pytest.raises(ValueError, match="give both or neither"):
        write_label_issues(tmp_path / "x.csv", ["a"], [0], [0], [np.nan], [0.1], quality=[0.5])


def test_no_noise_is_spelt_one_way():
    assert parse_task("imagefolder/none").name == "imagefolder/none" and parse_task("digits/none").rate == 0.0
    assert parse_task("digits/sym0.40").name == "digits/sym0.4"
    for bad in ("imagefolder/none0", "imagefolder/sym", "imagefolder/pair0.2"):
        with pytest.raises(UserError, match="<dataset>/none"):
            parse_task(bad)


def test_a_messy_folder_of_16_bit_digits_trains_on_its_real_images_once_and_learns(tmp_path, capsys):
    """Three classes of 16-bit grey digit PNGs (microscopy's and medicine's format) with what a folder collects:
    notebook checkpoints, a zip's __MACOSX and AppleDouble files, a symlink loop; and, in another folder, two
    corrupt files, both named in one message before anything trains."""
    digits = load_digits()
    root = tmp_path / "digits16"
    chosen = np.flatnonzero(digits.target < 3)
    for i in chosen:
        folder = root / NAMES[digits.target[i]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((digits.images[i] * 4096).astype(np.uint16)).save(folder / f"{i:04d}.png")  # 0..16 -> 0..65536
    for junk in (root / ".ipynb_checkpoints", root / "__MACOSX" / "one", root / "two" / ".ipynb_checkpoints"):
        junk.mkdir(parents=True)
        Image.fromarray(np.full((8, 8), 60000, dtype=np.uint16)).save(junk / "0000-checkpoint.png")
    (root / "zero" / "._0000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / "one" / "again").symlink_to(root / "one", target_is_directory=True)
    out = tmp_path / "run"
    command = ["--dataset", "imagefolder", "--data_path", str(root), "--image_size", "8", "--method", "cce",
               "--num_epochs", "20", "--milestones", "10/16", "--check_loc", str(out), "--device", "cpu"]
    assert train_hmw.main(command) == 0
    assert "image folder: skipped 4 folders and images" in capsys.readouterr().out  # the run's log says so
    record = json.loads((out / "cell.json").read_text())
    table = pd.read_csv(out / "label_issues.csv")
    assert record["train_size"] + record["test_size"] == len(chosen) and table["path"].is_unique
    assert not table["path"].str.contains("again|checkpoint|MACOSX|\\._").any()  # each real image once, nothing else
    # measured on the project's 2-core machine: 0.93 of the 54 held-out images (chance: 0.33); bound 0.70
    assert record["last_acc"] >= 0.70, record["last_acc"]
    broken = write_images(tmp_path / "broken", {"ant": [grey(10 * i) for i in range(4)],
                                                "bee": [grey(200 - 10 * i) for i in range(4)]})
    (broken / "ant" / "cut.png").write_bytes((broken / "ant" / "0.png").read_bytes()[:30])
    (broken / "bee" / "noise.jpg").write_bytes(b"\xff\xd8 not a JPEG")
    assert train_hmw.main(["--dataset", "imagefolder", "--data_path", str(broken), "--method", "cce",
                           "--val_fraction", "0.5", "--check_loc", str(tmp_path / "broken-run"), "--device", "cpu"]) == 2
    error = one_error_line(capsys)
    assert "ant/cut.png" in error and "bee/noise.jpg" in error and not (tmp_path / "broken-run").exists()
