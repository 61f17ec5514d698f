"""HMW end to end: the digits demo shows what HMW does, a resumed run equals an uninterrupted one, the
authors' README commands run on a CIFAR stand-in, the baselines run, and the losses are the authors'."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from code_used_upload import order_results_hmw as grid_driver
from code_used_upload import train_hmw
from code_used_upload.data.cifar import write_cifar_standin
from code_used_upload.data.digits import load_digits_split
from code_used_upload.models.noisy import NOISY_SETUPS, NoisyLabelClassifier, negative_entropy, symmetric_cross_entropy
from code_used_upload.models import noisy as noisy_models
from code_used_upload.models.mlp import digits_mlp
from code_used_upload.models.preact_resnet import PreActResNet
from code_used_upload.training.noisy_labels import MarginTracker
from test_run_identity import folder_digest, last_error_line

EPOCH_COLUMNS = ["epoch", "test_acc", "train_loss", "weight_clean", "weight_noisy", "weight_auroc", "aum_auroc_first_drop",
                 "aum_auroc"]


# the demo narrowed to one seed and the two methods every view runs, the shift view to the setting its test reads:
# 10 runs of 100 epochs, two at a time where Ray is installed (as in CI; the demo's runs have one thread each)
DEMO_FLAGS = ["--demo", "--seeds", "0", "--methods", "cce,hmw+cce"]
DEMO_NARROWINGS = [["--views", "none"], ["--views", "shift", "--settings", "digits/sym0.6"]]


@pytest.fixture(scope="module")
def digits_demo(tmp_path_factory, ray_where_installed):
    outputfolder = tmp_path_factory.mktemp("hmw-demo")
    for narrowing in DEMO_NARROWINGS:
        assert grid_driver.main([*DEMO_FLAGS, *ray_where_installed, *narrowing, "--outputfolder", str(outputfolder)]) == 0
    return outputfolder, pd.read_csv(outputfolder / "results.csv")


def value_of(results, view, setting, method, key):
    rows = results[(results["view"] == view) & (results["setting"] == setting) & (results["method"] == method)]
    assert rows["seed"].tolist() == [0]
    return rows[key].iloc[0]


def test_the_digits_demo_shows_what_hmw_does(digits_demo):
    _, results = digits_demo
    for setting in ("digits/sym0.4", "digits/sym0.6"):
        gain = value_of(results, "none", setting, "hmw+cce", "last_acc") - value_of(results, "none", setting, "cce", "last_acc")
        # measured on the project's 2-core machine, seed 0: +0.228 at sym 0.4, +0.283 at sym 0.6 (bound +0.10)
        assert gain >= 0.10, (setting, gain)
    for setting, bound in (("digits/sym0.4", 0.90), ("digits/sym0.6", 0.90), ("digits/asym0.4", 0.85)):
        weights = value_of(results, "none", setting, "hmw+cce", "weight_auroc")
        # measured: 0.989, 0.968 (bound 0.90) and 0.926 at asym 0.4 (bound 0.85)
        assert weights >= bound, (setting, weights)
        # AUM over every epoch of a plain cross-entropy run: 0.932, 0.831, 0.886 (HMW ahead by 0.058 to 0.137)
        assert weights > value_of(results, "none", setting, "cce", "aum_auroc"), setting
    # AUM as its authors use it, to the first learning-rate drop, from a plain cross-entropy run: 0.987, 0.937,
    # 0.909 against HMW's 0.989, 0.968, 0.926. Level at sym 0.4 (not asserted), HMW ahead at sym 0.6 by 0.031
    assert value_of(results, "none", "digits/sym0.6", "hmw+cce", "weight_auroc") > \
        value_of(results, "none", "digits/sym0.6", "cce", "aum_auroc_first_drop")
    cost = value_of(results, "none", "digits/sym0", "cce", "last_acc") - value_of(results, "none", "digits/sym0", "hmw+cce", "last_acc")
    assert cost <= 0.02  # measured: 0.000 (0.9815 both)


def test_the_shift_view_moves_the_baseline_and_hmw_still_helps(digits_demo):
    """Issue 26: a table that gave one method views and the other none would credit the method with the views."""
    _, results = digits_demo
    none, shift = (value_of(results, view, "digits/sym0.6", "cce", "last_acc") for view in ("none", "shift"))
    assert shift - none >= 0.20  # measured: 0.922 with the shift, 0.531 without (+0.391)
    hmw = value_of(results, "shift", "digits/sym0.6", "hmw+cce", "last_acc")
    assert hmw > shift  # measured: 0.961 against 0.922
    # measured: 0.9988; "well above 0.95"
    assert value_of(results, "shift", "digits/sym0.6", "hmw+cce", "weight_auroc") >= 0.97


def test_aum_is_recorded_to_the_first_drop_and_over_every_epoch(digits_demo):
    outputfolder, _ = digits_demo
    cell = outputfolder / "none" / "digits" / "sym0.6" / "models" / "cce" / "seed0"
    epochs, record = pd.read_csv(cell / "epochs.csv"), json.loads((cell / "cell.json").read_text())
    first_drop = record["recipe"]["milestones"][0]  # 50: the horizon stops growing there
    assert epochs["aum_auroc_first_drop"].iloc[first_drop - 1:].nunique() == 1
    assert (epochs["aum_auroc_first_drop"].iloc[:first_drop] == epochs["aum_auroc"].iloc[:first_drop]).all()
    assert record["aum_auroc_first_drop"] == epochs["aum_auroc_first_drop"].iloc[-1] != record["aum_auroc"]
    scores, noise = np.load(cell / "weights.npz"), np.load(cell / "noise.npz")
    assert scores["aum_first_drop"].shape == scores["aum"].shape == noise["is_noisy"].shape


def test_the_demo_writes_its_tables_and_every_runs_files(digits_demo):
    outputfolder, results = digits_demo
    # none at the four settings, then shift at sym 0.6 only: the second run's results.md covers both views
    assert len(results) == 2 * (4 + 1) and set(results["view"]) == {"none", "shift"}
    markdown = (outputfolder / "results.md").read_text()
    # per view five tables: last and best accuracy, the weights, AUM to the first drop and over every epoch
    assert markdown.count("\n|cce|") == 10 and markdown.count("\n|hmw+cce|") == 10
    assert markdown.index("## View: none") < markdown.index("## View: shift")
    for view in ("none", "shift"):
        assert f"augment {view}" in (outputfolder / view / "results.md").read_text()  # each table states its view
        assert (outputfolder / view / "results.png").stat().st_size > 10_000
    cell = outputfolder / "none" / "digits" / "sym0.6" / "models" / "hmw+cce" / "seed0"
    epochs = pd.read_csv(cell / "epochs.csv")
    assert list(epochs.columns) == EPOCH_COLUMNS and list(epochs["epoch"]) == list(range(1, 101))
    record = json.loads((cell / "cell.json").read_text())
    assert record["last_acc"] == epochs["test_acc"].iloc[-1] and record["best_acc"] == epochs["test_acc"].max()
    assert record["last10_acc"] == pytest.approx(epochs["test_acc"].iloc[-10:].mean())
    assert record["weight_auroc"] == epochs["weight_auroc"].iloc[-1]
    assert record["recipe"]["batch_size"] == 32 and record["epochs"] == 100 and record["device"] == "cpu"
    assert record["identity"]["cell"]["recipe"]["augment"] is None and record["recipe"]["augment"] is None
    noise = np.load(cell / "noise.npz")
    assert noise["is_noisy"].mean() == pytest.approx(0.54, abs=0.03)  # 0.6 * 9/10 of the labels end up wrong
    assert (noise["noisy_labels"] != noise["clean_labels"]).tolist() == noise["is_noisy"].tolist()
    scores = np.load(cell / "weights.npz")
    assert scores["weights"][~noise["is_noisy"]].mean() > scores["weights"][noise["is_noisy"]].mean()
    assert (cell / "weights.png").stat().st_size > 10_000
    for narrowing in DEMO_NARROWINGS:  # as the fixture ran them
        assert grid_driver.main([*DEMO_FLAGS, *narrowing, "--report-only", "--outputfolder", str(outputfolder)]) == 0
    assert (outputfolder / "results.md").read_text() == markdown


def test_a_complete_run_asked_again_spelled_out_is_left_as_it_is(digits_demo, capsys):
    """A complete digits cce run (the demo's) asked for again by train_hmw.py with its own rate, milestones and
    warm-up, and options cce does not use: nothing to do; another noise rate or length is another run."""
    outputfolder, _ = digits_demo
    cell = outputfolder / "none" / "digits" / "sym0.4" / "models" / "cce" / "seed0"
    before = folder_digest(cell)
    asked = ["--dataset", "digits", "--noise_mode", "sym", "--r", "0.4", "--method", "cce", "--seed", "0",
             "--device", "cpu", "--check_loc", str(cell)]
    spelled_out = ["--lr", "0.02", "--milestones", "50/80", "--warm_up", "10", "--alpha_nmw", "50", "--cv_n_folds", "3"]
    assert train_hmw.main([*asked, *spelled_out]) == 0
    assert "holds this run already" in capsys.readouterr().out and folder_digest(cell) == before
    for other, said in ((["--r", "0.6"], "r 0.4 -> 0.6"), (["--num_epochs", "50"], "epochs 100 -> 50")):
        assert train_hmw.main([*asked, *other]) == 2
        assert said in last_error_line(capsys) and folder_digest(cell) == before


def test_cleanlab_runs_as_its_users_run_it(tmp_path, monkeypatch):
    import cleanlab.filter

    folder, pools = tmp_path / "cleanlab", []
    real = cleanlab.filter.find_label_issues
    monkeypatch.setattr(cleanlab.filter, "find_label_issues",
                        lambda *args, **kwargs: pools.append(kwargs.get("n_jobs")) or real(*args, **kwargs))
    assert train_hmw.main(["--dataset", "digits", "--noise_mode", "sym", "--r", "0.6", "--method", "cleanlab", "--seed", "0",
                           "--cv_n_folds", "3", "--check_loc", str(folder), "--device", "cpu"]) == 0
    assert pools == [1]  # cleanlab's worker pool gets the run's threads (the digits' one), not every core
    record = json.loads((folder / "cell.json").read_text(), parse_constant=pytest.fail)  # strict JSON: no NaN
    noise = np.load(folder / "noise.npz")
    # three folds, not the default five, to keep the suite short (12 s, not 28). Measured on the project's 2-core
    # machine: AUROC 0.875 of the quality scores; precision 0.729, recall 0.894; the cce network trained on what it
    # keeps: 0.819 at the last epoch (plain cce: 0.531). Five folds: 0.895, 0.755, 0.906, 0.837
    assert record["cleanlab_auroc"] >= 0.80 and record["last_acc"] >= 0.70
    assert 0.5 <= record["flag_precision"] <= 1 and record["flag_recall"] >= 0.7
    assert record["train_size"] == len(noise["is_noisy"]) - record["flagged"]
    assert record["identity"]["cell"]["cv_n_folds"] == 3 and record["weight_auroc"] is None  # cce has no weights
    scores = np.load(folder / "weights.npz")
    assert np.isnan(scores["aum"]).sum() == record["flagged"]  # the flagged samples are not trained on
    assert not list(tmp_path.glob(".cleanlab.*"))  # the folds' checkpoints are gone once the run is complete


RUN = ["--dataset", "digits", "--noise_mode", "sym", "--r", "0.6", "--method", "hmw+cce", "--seed", "3",
       "--num_epochs", "6", "--milestones", "3/5", "--device", "cpu"]


def test_a_resumed_run_ends_as_an_uninterrupted_one(tmp_path, interrupt_noisy_run):
    assert train_hmw.main([*RUN, "--check_loc", str(tmp_path / "whole")]) == 0
    interrupt_noisy_run(4)
    assert train_hmw.main([*RUN, "--check_loc", str(tmp_path / "resumed")]) == 130
    assert not (tmp_path / "resumed").exists() and (tmp_path / ".resumed.checkpoint.pt").is_file()
    interrupt_noisy_run(None)
    assert train_hmw.main([*RUN, "--check_loc", str(tmp_path / "resumed")]) == 0
    assert not (tmp_path / ".resumed.checkpoint.pt").exists()
    whole, resumed = (torch.load(tmp_path / name / "model.pt", weights_only=True) for name in ("whole", "resumed"))
    assert whole.keys() == resumed.keys() and "head.weighted_sum" in whole
    assert all(torch.equal(whole[key], resumed[key]) for key in whole)
    assert (tmp_path / "whole" / "epochs.csv").read_bytes() == (tmp_path / "resumed" / "epochs.csv").read_bytes()


# the authors' README commands (HMW_upload/README), as written; only the length is cut for a CPU test
README_COMMANDS = [
    "--if_aum 1 --if_anneal 1 --if_spherical 1 --seed 123 --dataset cifar10 --num_class 10 --data_path ./data/cifar10 "
    "--noise_mode sym --num_epochs 250 --milestones 125/200 --r 0.2 --method hmw+cce --alpha_nmw 100 --beta_nmw 100 "
    "--top_rate_nmw 0.01 --check_loc ./checkpoint_cifar10_cce_final_sym_hmw/",
    "--if_aum 0 --if_anneal 1 --if_spherical 1 --seed 123 --dataset cifar100 --num_class 100 --data_path ./data/cifar100 "
    "--noise_mode sym --num_epochs 250 --milestones 125/200 --r 0.2 --method hmw+cce --alpha_nmw 100 --beta_nmw 100 "
    "--top_rate_nmw 0.01 --check_loc ./checkpoint_cifar100_cce_final_sym_hmw/",
]


@pytest.mark.parametrize("command", README_COMMANDS, ids=["cifar10", "cifar100-tkum-only"])
def test_the_authors_readme_commands_run_on_a_cifar_standin(tmp_path, monkeypatch, command):
    argv = command.split()
    dataset = argv[argv.index("--dataset") + 1]
    write_cifar_standin(tmp_path / "data" / dataset, dataset, n_train=128, n_test=32, seed=0)
    argv[argv.index("--num_epochs") + 1], argv[argv.index("--milestones") + 1] = "2", "1/2"
    monkeypatch.chdir(tmp_path)
    assert train_hmw.main([*argv, "--device", "cpu"]) == 0
    folder = tmp_path / argv[argv.index("--check_loc") + 1]
    record = json.loads((folder / "cell.json").read_text())
    assert (record["dataset"], record["r"], record["method"], record["seed"]) == (dataset, 0.2, "hmw+cce", 123)
    assert record["hmw"]["if_aum"] is (argv[argv.index("--if_aum") + 1] == "1")
    # the milestone 2 is not reached in 2 epochs: the run as resolved has the drop after epoch 1 alone
    assert record["recipe"]["milestones"] == [1] and record["recipe"]["augment"] == "crop_flip"
    assert record["train_size"] == 128 and len(pd.read_csv(folder / "epochs.csv")) == 2
    weights = torch.load(folder / "model.pt", weights_only=True)
    assert sum(v.numel() for k, v in weights.items() if k.startswith("backbone.") and "running" not in k
               and "num_batches" not in k) == 11_166_144


@pytest.mark.parametrize("method", ["cce", "sce", "hmw+sce"])
def test_every_method_runs_where_the_authors_code_crashes(tmp_path, method):
    folder = tmp_path / method
    assert train_hmw.main(["--dataset", "digits", "--noise_mode", "asym", "--r", "0.4", "--method", method,
                           "--num_epochs", "3", "--milestones", "2/3", "--check_loc", str(folder), "--device", "cpu"]) == 0
    record = json.loads((folder / "cell.json").read_text())
    assert record["method"] == method and 0.5 < record["last_acc"] <= 1.0  # measured 0.80 (cce), 0.85 (sce), 0.87 (hmw+sce)
    assert (record["weight_auroc"] is None) == (method != "hmw+sce")  # null in strict JSON where a run has no weights


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "digits", "--num_class", "100"], "--num_class 100"),
    (["--dataset", "mnist"], "mnist"),
    (["--method", "dividemix"], "dividemix"),
    (["--noise_mode", "pair"], "pair"),
    (["--r", "1.5"], "1.5"),
])
def test_bad_flags_get_one_clear_message(tmp_path, capsys, argv, message):
    assert train_hmw.main([*argv, "--check_loc", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--views", "none"], "add --demo"),
    (["--demo", "--views", "none,crop"], "--views none,crop"),
])
def test_the_demos_views_are_checked_before_anything_runs(tmp_path, capsys, argv, message):
    assert grid_driver.main([*argv, "--outputfolder", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def classifier(method, unweighted_epochs=2, penalty=False):
    torch.manual_seed(0)
    return NoisyLabelClassifier(digits_mlp(), 10, method, train_size=20, epochs=5, unweighted_epochs=unweighted_epochs,
                                sce=(0.1, 1.0), confidence_penalty=penalty)


AUTHORS_LOSSES = Path(__file__).with_name("golden") / "authors_losses.npz"  # tests/golden/README.md says how


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_sce_and_the_penalty_equal_the_authors_own_code(dataset):
    golden = np.load(AUTHORS_LOSSES)
    logits, labels = torch.from_numpy(golden[f"{dataset}_logits"]), torch.from_numpy(golden[f"{dataset}_labels"])
    a, b = golden[f"{dataset}_a_b"]
    assert (a, b) == NOISY_SETUPS[dataset].sce  # the (a, b) their trainer passes for this data set
    ours = symmetric_cross_entropy(logits, labels, a, b)
    # float32 against their float64: measured differences below 1e-5 (rounding of CE and of log(1e-4))
    np.testing.assert_allclose(ours.numpy(), golden[f"{dataset}_sce"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.numpy(), golden[f"{dataset}_sce_f32"], rtol=1e-6, atol=1e-6)
    assert negative_entropy(logits.double()).item() == pytest.approx(float(golden[f"{dataset}_negentropy"]), abs=1e-12)


def test_the_weighted_loss_is_the_batch_mean_after_the_unweighted_epochs():
    logits, labels = torch.randn(6, 10), torch.tensor([0, 1, 2, 3, 4, 9])
    weights = torch.rand(6)
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    model = classifier("hmw+cce")
    torch.testing.assert_close(model.loss(logits, weights, labels, epoch=1), ce.mean())  # unweighted epochs
    torch.testing.assert_close(model.loss(logits, weights, labels, epoch=2), (ce * weights).mean())  # not / sum(w)
    penalised = classifier("cce", penalty=True).loss(logits, None, labels, epoch=4)
    torch.testing.assert_close(penalised, ce.mean() + negative_entropy(logits))


def test_hmw_trains_on_normalised_logits_and_evaluates_on_raw_ones():
    model = classifier("hmw+cce")
    images = torch.rand(4, 1, 8, 8)
    logits, raw, weights = model.training_outputs(images, torch.tensor([1, 2, 3, 4]), torch.arange(4), epoch=0)
    torch.testing.assert_close(logits.norm(dim=1), torch.ones(4))
    torch.testing.assert_close(raw, model(images))
    assert weights.shape == (4,) and (weights > 0).all() and (weights <= 1).all()
    baseline = classifier("cce")
    assert isinstance(baseline.head, torch.nn.Linear) and baseline.head.bias is not None
    logits, raw, weights = baseline.training_outputs(images, torch.tensor([1, 2, 3, 4]), torch.arange(4), epoch=0)
    assert weights is None and torch.equal(logits, raw)


def test_aum_is_the_mean_raw_logit_margin_over_visits_to_the_first_drop_and_over_all():
    tracker = MarginTracker(3, torch.device("cpu"), first_drop=1)
    tracker.add(torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]), torch.tensor([0, 2]), torch.tensor([0, 1]), epoch=0)
    tracker.add(torch.tensor([[0.0, 1.0, 0.5]]), torch.tensor([0]), torch.tensor([0]), epoch=1)
    aum, first = tracker.aum(), tracker.aum_first_drop()
    assert aum[0] == pytest.approx((1.0 + -1.0) / 2) and aum[1] == pytest.approx(1.0 - 3.0) and np.isnan(aum[2])
    assert first[0] == pytest.approx(1.0) and first[1] == pytest.approx(1.0 - 3.0) and np.isnan(first[2])


def test_the_digits_split_is_fixed_and_stratified():
    first, second = load_digits_split(), load_digits_split()
    assert (len(first.train_labels), len(first.test_labels)) == (1257, 540)
    assert np.array_equal(first.test_images, second.test_images) and first.train_images.dtype == np.uint8
    shares = np.bincount(first.test_labels) / np.bincount(first.train_labels)
    assert shares.min() > 0.4 and shares.max() < 0.46  # every class split about 30 / 70


def test_the_noisy_label_grid_gives_the_same_numbers_on_ray(tmp_path, shared_ray):
    flags = ["--settings", "digits/asym0.4", "--methods", "hmw+cce", "--seeds", "1", "--epochs", "3",
             "--cpus-per-cell", "1", "--device", "cpu"]
    for executor in ("local", "ray"):
        assert grid_driver.main([*flags, "--executor", executor, "--outputfolder", str(tmp_path / executor)]) == 0
    local, ray = (pd.read_csv(tmp_path / executor / "results.csv") for executor in ("local", "ray"))
    assert local.equals(ray) and len(local) == 1


def narrow_preact_resnet18(in_channels=3):
    """PreAct-ResNet18's layout at an eighth of its widths: the authors' command on a CPU in seconds."""
    return PreActResNet(widths=(8, 16, 32, 64), in_channels=in_channels)


@pytest.mark.parametrize("method", ["uc", "hmw+uc"])
def test_the_authors_command_runs_unicon_through_its_warm_up_into_selection(tmp_path, monkeypatch, method):
    argv = README_COMMANDS[0].replace("--method hmw+cce", f"--method {method} --batch_size 64").split()
    write_cifar_standin(tmp_path / "data" / "cifar10", "cifar10", n_train=256, n_test=96, seed=0)
    argv[argv.index("--num_epochs") + 1], argv[argv.index("--milestones") + 1] = "2", "2/3"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(noisy_models, "preact_resnet18", narrow_preact_resnet18)
    assert train_hmw.main([*argv, "--warm_up", "1", "--device", "cpu"]) == 0
    folder = tmp_path / argv[argv.index("--check_loc") + 1]
    epochs, record = pd.read_csv(folder / "epochs.csv"), json.loads((folder / "cell.json").read_text())
    assert len(epochs) == 3  # the authors' epochs 0..num_epochs
    assert epochs["net1_selection_rate"].isna().tolist() == [True, False, False]  # the warm-up, then selection
    selected = epochs.iloc[1:]
    assert ((selected["net1_labelled"] > 0) & (selected["net2_selection_rate"] > 0) & (selected["net2_selection_rate"] < 1)).all()
    assert selected[["net1_precision", "net1_recall", "net2_precision", "net2_recall"]].notna().all().all()
    recipe = record["recipe"]
    assert (recipe["batch_size"], recipe["warmup_batch_size"], recipe["warm_up"], recipe["epochs"]) == (64, 128, 1, 3)
    assert (recipe["weak_view"], recipe["strong_view"]) == ("crop_flip", "cifar10_policy")
    assert record["selection_precision"] == epochs["net2_precision"].iloc[-1]
    # learning is the digits' to show (test_unicon_loop.py, the demo): three epochs of 256 stand-in images do not
