"""The twelve models: the reference's parameter counts, output shapes, initialisation, the registry."""
import pytest
import torch
from torch import nn

from code_used_upload.configs.paper import PAPER_MODELS
from code_used_upload.models import (ConcatPool1d, available_models, build_model, model_recipe, model_row,
                                     register_backbone, split_model_name)
from code_used_upload.models import registry
from code_used_upload.models.ldm import LabelDecouplingHead, ldm_loss
from code_used_upload.errors import UserError

BACKBONES = ["lstm", "lstm_bidir", "inception1d", "resnet1d_wang", "fcn_wang", "xresnet1d101"]

# trainable parameters of the reference implementation (issue 3): baseline 71, baseline 5, +LDM 71, +LDM 5
REFERENCE_PARAMS = {
    "lstm": (912_199, 903_685, 1_464_934, 942_280),
    "lstm_bidir": (2_339_143, 2_330_629, 3_437_158, 2_407_624),
    "inception1d": (516_167, 507_653, 705_382, 520_648),
    "resnet1d_wang": (481_863, 473_349, 671_078, 486_344),
    "fcn_wang": (318_279, 309_765, 507_494, 322_760),
    "xresnet1d101": (1_880_775, 1_872_261, 2_251_750, 1_898_056),
}


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_registry_lists_every_backbone_and_its_ldm_variant():
    models = available_models()
    assert set(PAPER_MODELS) <= set(models) and set(PAPER_MODELS) == {n for b in BACKBONES for n in (b, b + "_ldm")}
    assert all(models[i + 1] == models[i] + "_ldm" for i in range(0, len(models), 2))


def test_model_names_split_in_one_place_and_rows_follow_the_paper():
    assert split_model_name("fcn_wang_ldm") == ("fcn_wang", True)
    assert split_model_name("fcn_wang") == ("fcn_wang", False)
    assert [model_row(m) for m in PAPER_MODELS[:4]] == ["LSTM", "LSTM+LDM", "Inception1d", "Inception1d+LDM"]


def test_each_model_brings_its_recipe_with_the_reference_clipping_quirk_stated_once():
    assert model_recipe("lstm").clip == 0.25 and model_recipe("lstm_bidir").clip == 0.25
    assert model_recipe("lstm_ldm").clip is None and model_recipe("lstm_bidir_ldm").clip is None
    assert {model_recipe(m).max_lr for m in PAPER_MODELS if "lstm" in m} == {1e-3}
    others = [m for m in PAPER_MODELS if "lstm" not in m]
    assert {(model_recipe(m).max_lr, model_recipe(m).clip, model_recipe(m).schedule) for m in others} == {(1e-2, None, "one_cycle")}


@pytest.mark.parametrize("name", ["fcn_wang", "fcn_wang_ldm"])
def test_the_model_gives_its_own_training_loss(name):
    torch.manual_seed(0)
    model = build_model(name, 5).train()
    x, y = torch.randn(8, 12, 250), (torch.rand(8, 5) < 0.5).float()
    outputs = model(x)
    if name.endswith("_ldm"):
        expected = ldm_loss(outputs[0], outputs[1], y)
    else:
        expected = torch.nn.functional.binary_cross_entropy_with_logits(outputs, y)
    torch.testing.assert_close(model.loss(outputs, y), expected)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_parameter_counts_match_the_reference(backbone):
    base71, base5, ldm71, ldm5 = REFERENCE_PARAMS[backbone]
    assert trainable(build_model(backbone, 71)) == base71
    assert trainable(build_model(backbone, 5)) == base5
    assert trainable(build_model(backbone + "_ldm", 71)) == ldm71
    assert trainable(build_model(backbone + "_ldm", 5)) == ldm5


@pytest.mark.parametrize("name", [n for b in BACKBONES for n in (b, b + "_ldm")])
def test_outputs_in_training_and_eval_mode(name):
    torch.manual_seed(0)
    x = torch.randn(4, 12, 128)  # short crops keep the LSTMs fast; xresnet still downsamples to 4 steps
    for num_classes in (5, 71):
        model = build_model(name, num_classes)
        is_ldm = isinstance(model.head, LabelDecouplingHead)
        assert is_ldm == name.endswith("_ldm")
        model.train()
        out = model(x)
        if is_ldm:
            logits, embeddings = out
            assert embeddings.shape == (num_classes, 4, 8)
            torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(num_classes, 4))
        else:
            logits = out
        assert logits.shape == (4, num_classes) and torch.isfinite(logits).all()
        model.eval()
        with torch.no_grad():
            logits = model(x)
        assert isinstance(logits, torch.Tensor) and logits.shape == (4, num_classes)


def test_input_channels_are_configurable():
    model = build_model("fcn_wang_ldm", 5, input_channels=3).eval()
    assert model(torch.randn(2, 3, 100)).shape == (2, 5)


def test_initialisation_as_the_reference():
    """Kaiming-normal conv/linear weights (std sqrt(2 / fan_in)), zero biases, BatchNorm 1 and 0."""
    torch.manual_seed(0)
    model = build_model("fcn_wang_ldm", 71)
    conv = model.backbone[1][0]  # Conv1d(128 -> 256, kernel 5): fan_in 640
    assert abs(conv.weight.std().item() / (2 / 640) ** 0.5 - 1) < 0.02
    head = model.head
    assert abs(head.weight1.std().item() / (2 / 256) ** 0.5 - 1) < 0.02  # each label's Linear(256 -> 8)
    assert abs(head.gate_weight.std().item() / (2 / 71) ** 0.5 - 1) < 0.05
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d) and m.affine:
            assert (m.weight == 1).all() and (m.bias == 0).all()
        if isinstance(m, nn.Linear):
            assert (m.bias == 0).all()
    assert (head.scale1 == 1).all() and (head.shift1 == 0).all()
    for p in (head.bias1, head.bias2, head.gate_bias):
        assert (p == 0).all()


def test_lstm_pools_mean_max_and_last_step():
    torch.manual_seed(0)
    backbone = build_model("lstm_bidir", 5).backbone
    x = torch.randn(3, 12, 40)
    out, _ = backbone.lstm(x.transpose(1, 2))
    expected = torch.cat([out.mean(1), out.max(1).values, out[:, -1]], dim=1)
    torch.testing.assert_close(backbone(x), expected)
    assert expected.shape == (3, 6 * 256)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UserError) as err:
        build_model("resnet50", 5)
    assert "resnet50" in str(err.value) and "xresnet1d101_ldm" in str(err.value)


def test_a_registered_backbone_gets_an_ldm_variant(monkeypatch):
    monkeypatch.setattr(registry, "_BACKBONES", dict(registry._BACKBONES))

    @register_backbone("tiny_cnn")
    def tiny_cnn(input_channels):
        net = nn.Sequential(nn.Conv1d(input_channels, 16, 5, padding=2), nn.ReLU(), ConcatPool1d())
        net.out_features = 32
        return net

    assert "tiny_cnn" in available_models() and "tiny_cnn_ldm" in available_models()
    model = build_model("tiny_cnn_ldm", 7).train()
    logits, embeddings = model(torch.randn(6, 12, 50))
    assert isinstance(model.head, LabelDecouplingHead) and logits.shape == (6, 7) and embeddings.shape == (7, 6, 8)
    # the LDM adds per label BN(32) + Linear(32 -> 8) + BN(8) + Linear(8 -> 1), and the 7 x 7 gate
    extra = trainable(model) - trainable(build_model("tiny_cnn", 7))
    assert extra == 7 * (2 * 32 + 8 * 32 + 8 + 16 + 9) + 7 * 7 + 7


def test_registry_rejects_bad_backbones(monkeypatch):
    monkeypatch.setattr(registry, "_BACKBONES", dict(registry._BACKBONES))
    with pytest.raises(UserError):
        register_backbone("mine_ldm")
    register_backbone("no_features")(lambda input_channels: nn.Conv1d(input_channels, 4, 3))
    with pytest.raises(UserError, match="out_features"):
        build_model("no_features", 5)
