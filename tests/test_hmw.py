"""HMW end to end: the digits demo shows what HMW does, a resumed run equals an uninterrupted one, the
authors' README commands run on a CIFAR stand-in, the baselines run, and the losses are the authors'."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from code_used_upload import order_results_hmw as grid_driver
from code_used_upload import train_hmw
from code_used_upload.data.cifar import write_cifar_standin
from code_used_upload.data.digits import load_digits_split
from code_used_upload.experiments import noisy as noisy_experiment
from code_used_upload.models.noisy import NoisyLabelClassifier, symmetric_cross_entropy
from code_used_upload.models.mlp import digits_mlp
from code_used_upload.training.noisy_labels import MarginTracker

EPOCH_COLUMNS = ["epoch", "test_acc", "train_loss", "weight_clean", "weight_noisy", "weight_auroc", "aum_auroc_first_drop",
                 "aum_auroc"]


@pytest.fixture(scope="module")
def digits_demo(tmp_path_factory):
    outputfolder = tmp_path_factory.mktemp("hmw-demo")
    assert grid_driver.main(["--demo", "--outputfolder", str(outputfolder)]) == 0
    return outputfolder, pd.read_csv(outputfolder / "results.csv")


def mean_of(results, setting, method, key):
    rows = results[(results["setting"] == setting) & (results["method"] == method)]
    assert sorted(rows["seed"]) == [0, 1, 2]
    return rows[key].mean()


def test_the_digits_demo_shows_what_hmw_does(digits_demo):
    _, results = digits_demo
    for setting in ("digits/sym0.4", "digits/sym0.6"):
        gain = mean_of(results, setting, "hmw+cce", "last_acc") - mean_of(results, setting, "cce", "last_acc")
        # measured on the project's 2-core machine: +0.186 at sym 0.4, +0.297 at sym 0.6 (bound +0.10)
        assert gain >= 0.10, (setting, gain)
    for setting, bound in (("digits/sym0.4", 0.90), ("digits/sym0.6", 0.90), ("digits/asym0.4", 0.85)):
        weights = mean_of(results, setting, "hmw+cce", "weight_auroc")
        # measured: 0.981, 0.969 (bound 0.90) and 0.910 at asym 0.4, where the 0.90 holds on this
        # machine by 0.010 only, too little for another CPU: the bound there is 0.85
        assert weights >= bound, (setting, weights)
        # AUM as its authors use it, from plain cross-entropy runs: 0.927, 0.839, 0.880 (HMW ahead by
        # 0.054, 0.130 and 0.030)
        assert weights > mean_of(results, setting, "cce", "aum_auroc"), setting
    cost = mean_of(results, "digits/sym0", "cce", "last_acc") - mean_of(results, "digits/sym0", "hmw+cce", "last_acc")
    assert cost <= 0.02  # measured: -0.001 (cce 0.9809, hmw+cce 0.9815)


def test_the_demo_writes_its_tables_and_every_runs_files(digits_demo):
    outputfolder, results = digits_demo
    assert len(results) == 4 * 2 * 3
    markdown = (outputfolder / "results.md").read_text()
    # five tables: last and best accuracy, the weights, AUM to the first drop and over every epoch (no cleanlab row)
    assert markdown.count("\n|cce|") == 5 and markdown.count("\n|hmw+cce|") == 5
    assert (outputfolder / "results.png").stat().st_size > 10_000
    cell = outputfolder / "digits" / "sym0.6" / "models" / "hmw+cce" / "seed1"
    epochs = pd.read_csv(cell / "epochs.csv")
    assert list(epochs.columns) == EPOCH_COLUMNS and list(epochs["epoch"]) == list(range(1, 101))
    record = json.loads((cell / "cell.json").read_text())
    assert record["last_acc"] == epochs["test_acc"].iloc[-1] and record["best_acc"] == epochs["test_acc"].max()
    assert record["last10_acc"] == pytest.approx(epochs["test_acc"].iloc[-10:].mean())
    assert record["weight_auroc"] == epochs["weight_auroc"].iloc[-1]
    assert record["recipe"]["batch_size"] == 32 and record["epochs"] == 100 and record["device"] == "cpu"
    noise = np.load(cell / "noise.npz")
    assert noise["is_noisy"].mean() == pytest.approx(0.54, abs=0.03)  # 0.6 * 9/10 of the labels end up wrong
    assert (noise["noisy_labels"] != noise["clean_labels"]).tolist() == noise["is_noisy"].tolist()
    scores = np.load(cell / "weights.npz")
    assert scores["weights"][~noise["is_noisy"]].mean() > scores["weights"][noise["is_noisy"]].mean()
    assert (cell / "weights.png").stat().st_size > 10_000
    assert grid_driver.main(["--demo", "--report-only", "--outputfolder", str(outputfolder)]) == 0
    assert (outputfolder / "results.md").read_text() == markdown


RUN = ["--dataset", "digits", "--noise_mode", "sym", "--r", "0.6", "--method", "hmw+cce", "--seed", "3",
       "--num_epochs", "6", "--milestones", "3/5", "--device", "cpu"]


def test_a_resumed_run_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    assert train_hmw.main([*RUN, "--check_loc", str(tmp_path / "whole")]) == 0
    evaluated = []
    real_accuracy = noisy_experiment.test_accuracy

    def interrupted_after_four_epochs(*args, **kwargs):
        if len(evaluated) == 4:
            raise KeyboardInterrupt
        evaluated.append(1)
        return real_accuracy(*args, **kwargs)

    monkeypatch.setattr(noisy_experiment, "test_accuracy", interrupted_after_four_epochs)
    assert train_hmw.main([*RUN, "--check_loc", str(tmp_path / "resumed")]) == 130
    assert not (tmp_path / "resumed").exists() and (tmp_path / ".resumed.checkpoint.pt").is_file()
    monkeypatch.setattr(noisy_experiment, "test_accuracy", real_accuracy)
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
    assert record["recipe"]["milestones"] == [1, 2] and record["recipe"]["augment"] == "crop_flip"
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
    assert np.isnan(record["weight_auroc"]) == (method != "hmw+sce")


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "digits", "--num_class", "100"], "--num_class 100"),
    (["--dataset", "mnist"], "mnist"),
    (["--method", "hmw+uc"], "hmw+uc"),
    (["--noise_mode", "pair"], "pair"),
    (["--r", "1.5"], "1.5"),
])
def test_bad_flags_get_one_clear_message(tmp_path, capsys, argv, message):
    assert train_hmw.main([*argv, "--check_loc", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1


def classifier(method, unweighted_epochs=2, penalty=False):
    torch.manual_seed(0)
    return NoisyLabelClassifier(digits_mlp(), 10, method, train_size=20, epochs=5, unweighted_epochs=unweighted_epochs,
                                sce=(0.1, 1.0), confidence_penalty=penalty)


def test_the_losses_are_the_authors():
    logits, labels = torch.randn(6, 10), torch.tensor([0, 1, 2, 3, 4, 9])
    weights = torch.rand(6)
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    p = torch.softmax(logits, dim=1).clamp(1e-7, 1.0)
    rce = -(p * torch.log(torch.nn.functional.one_hot(labels, 10).float().clamp(1e-4, 1.0))).sum(dim=1)
    torch.testing.assert_close(symmetric_cross_entropy(logits, labels, 0.1, 1.0), 0.1 * ce + rce)
    model = classifier("hmw+cce")
    torch.testing.assert_close(model.loss(logits, weights, labels, epoch=1), ce.mean())  # unweighted epochs
    torch.testing.assert_close(model.loss(logits, weights, labels, epoch=2), (ce * weights).mean())  # not / sum(w)
    entropy = (torch.softmax(logits, 1) * torch.log_softmax(logits, 1)).sum(dim=1).mean()
    torch.testing.assert_close(classifier("cce", penalty=True).loss(logits, None, labels, epoch=4), ce.mean() + entropy)


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


def test_aum_is_the_mean_raw_logit_margin_over_visits():
    tracker = MarginTracker(3, torch.device("cpu"))
    tracker.add(torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]), torch.tensor([0, 2]), torch.tensor([0, 1]))
    tracker.add(torch.tensor([[0.0, 1.0, 0.5]]), torch.tensor([0]), torch.tensor([0]))
    aum = tracker.aum()
    assert aum[0] == pytest.approx((1.0 + -1.0) / 2) and aum[1] == pytest.approx(1.0 - 3.0) and np.isnan(aum[2])


def test_the_digits_split_is_fixed_and_stratified():
    first, second = load_digits_split(), load_digits_split()
    assert (len(first.train_labels), len(first.test_labels)) == (1257, 540)
    assert np.array_equal(first.test_images, second.test_images) and first.train_images.dtype == np.uint8
    shares = np.bincount(first.test_labels) / np.bincount(first.train_labels)
    assert shares.min() > 0.4 and shares.max() < 0.46  # every class split about 30 / 70


def test_the_noisy_label_grid_gives_the_same_numbers_on_ray(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
    flags = ["--settings", "digits/asym0.4", "--methods", "hmw+cce", "--seeds", "1", "--epochs", "3",
             "--cpus-per-cell", "1", "--device", "cpu"]
    for executor in ("local", "ray"):
        assert grid_driver.main([*flags, "--executor", executor, "--outputfolder", str(tmp_path / executor)]) == 0
    local, ray = (pd.read_csv(tmp_path / executor / "results.csv") for executor in ("local", "ray"))
    assert local.equals(ray) and len(local) == 1
