"""The benchmark's pieces of transfer, each alone: its label-stratified split against its own output, the
fractions, a trained cell's weights in a model for other classes, and the two stages of fine-tuning."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from code_used_upload.data.stratify import draw_folds, stratified_fraction, stratify
from code_used_upload.errors import UserError
from code_used_upload.models import build_model
from code_used_upload.models.registry import model_layer_groups
from code_used_upload.models.transfer import load_pretrained
from code_used_upload.training import finetune
from code_used_upload.training.settings import RunSettings
from code_used_upload.models import model_recipe

pytestmark = pytest.mark.usefixtures("one_thread")
GOLDEN = Path(__file__).parent / "golden" / "benchmark_stratify.json"


def test_the_split_is_the_benchmarks_own():
    for case in json.loads(GOLDEN.read_text())["cases"]:
        subsets = stratify(case["patient_labels"], case["ratios"], case["patient_sizes"])
        assert [list(map(int, subset)) for subset in subsets] == case["subsets"]


def test_folds_keep_a_patients_records_together_and_fractions_keep_the_labels_shares():
    rng = np.random.default_rng(1)
    labels = [list(rng.choice(["NORM", "MI", "STTC", "CD"], size=rng.integers(1, 3), replace=False)) for _ in range(600)]
    patients = [f"p{index // 2}" if index < 300 else None for index in range(600)]  # pairs, then one record each
    folds = draw_folds(labels, patients)
    assert (folds[:300:2] == folds[1:300:2]).all() and set(folds) == set(range(1, 11))
    assert np.bincount(folds)[1:].min() >= 50  # ten folds of about 60
    kept = stratified_fraction(labels, patients, 0.1)
    assert 55 <= kept.sum() <= 65 and (kept[:300:2] == kept[1:300:2]).all()
    for label, count in Counter(label for record in labels for label in record).items():
        share = sum(label in labels[index] for index in np.flatnonzero(kept)) / count
        assert 0.07 <= share <= 0.13, (label, share)
    assert stratified_fraction(labels, patients, 1.0).all()


def test_a_cells_weights_go_into_a_model_for_other_classes_all_but_a_new_output_layer():
    torch.manual_seed(0)
    source = build_model("fcn_wang_ldm", num_classes=71)
    model = load_pretrained(build_model("fcn_wang", num_classes=2), "fcn_wang", source.state_dict(), "fcn_wang_ldm")
    for name, value in model.backbone.state_dict().items():
        assert torch.equal(value, source.backbone.state_dict()[name]), name
    for index in (0, 2, 4):  # the head's BatchNorms and hidden Linear: the cell's (its LDM head's shared part)
        for name, value in model.head[index].state_dict().items():
            assert torch.equal(value, source.head.shared[index].state_dict()[name])
    output = model.head[6]
    assert output.weight.shape == (2, 128) and torch.equal(output.bias, torch.zeros(2))
    assert 0.08 < output.weight.std().item() < 0.17  # Kaiming normal: std sqrt(2 / 128) = 0.125 over 256 weights
    with pytest.raises(UserError, match="fcn_wang_ldm cell, whose backbone fcn_wang is not resnet1d_wang's"):
        load_pretrained(build_model("resnet1d_wang", 2), "resnet1d_wang", source.state_dict(), "fcn_wang_ldm")


@pytest.fixture
def pretrained():
    """An fcn_wang 'cell' of 5 classes (random weights stand for trained ones) put into a 2-class model, and
    16 records of 3 s at 100 Hz to fine-tune it on."""
    torch.manual_seed(0)
    source = build_model("fcn_wang", num_classes=5)
    source.train()(torch.randn(8, 12, 250))  # BatchNorm statistics that are not the initial ones
    model = load_pretrained(build_model("fcn_wang", num_classes=2), "fcn_wang", source.state_dict(), "fcn_wang")
    signals, targets = torch.randn(16, 12, 300), np.eye(2, dtype=np.int64)[np.arange(16) % 2]
    return source, model, signals, targets


def test_stage_one_leaves_every_convolution_of_the_backbone_as_the_cell_has_it(pretrained):
    source, model, signals, targets = pretrained
    settings = RunSettings(batch_size=8, progress=False)
    groups = model_layer_groups("fcn_wang", model)
    finetune.train_head(model, groups, signals, targets, model_recipe("fcn_wang"), settings, seed=0, epochs=2)
    convolutions = [name for name, module in model.backbone.named_modules() if isinstance(module, nn.Conv1d)]
    assert len(convolutions) == 3
    for name in convolutions:
        assert torch.equal(model.backbone.get_submodule(name).weight, source.backbone.get_submodule(name).weight), name
    norm, source_norm = model.backbone[0][1], source.backbone[0][1]  # BatchNorm trains, as fastai's train_bn
    assert not torch.equal(norm.weight, source_norm.weight) and not torch.equal(norm.running_mean, source_norm.running_mean)
    assert not torch.equal(model.head[2].weight, source.head[2].weight)
    assert all(parameter.requires_grad for parameter in model.parameters())  # unfrozen again for stage 2


def test_stage_two_trains_every_layer_at_discriminative_rates(pretrained, monkeypatch):
    _, model, signals, targets = pretrained
    before = model.backbone[0][0].weight.detach().clone()
    asked = []
    real = finetune.train_model
    monkeypatch.setattr(finetune, "train_model", lambda *args, **kwargs: asked.append(kwargs["groups"]) or real(*args, **kwargs))
    history = finetune.finetune_model(model, model_layer_groups("fcn_wang", model), signals, targets,
                                      model_recipe("fcn_wang"), RunSettings(batch_size=8, progress=False), 0, epochs=1)
    head_and_batchnorm, all_layers = asked
    assert [rate for _, rate in head_and_batchnorm] == [1e-2]
    # fastai's even_mults(lr / 1000, lr / 10, 3) over fcn_wang's two backbone groups and the head
    np.testing.assert_allclose([rate for _, rate in all_layers], [1e-5, 1e-4, 1e-3], rtol=1e-12)
    assert sum(len(parameters) for parameters, _ in all_layers) == len(list(model.parameters()))
    assert not torch.equal(model.backbone[0][0].weight, before)
    assert len(history["train_loss"]) == 2 and history["kept_epoch"] == 2
