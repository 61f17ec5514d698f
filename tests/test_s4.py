"""The S4 backbone (Mehari & Strodthoff): the reference's function from its golden file, its initialisation,
parameter counts, the cached kernel map against a direct computation, the convolution, gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from code_used_upload.errors import UserError
from code_used_upload.models import available_models, build_model, model_recipe, model_row
from code_used_upload.models.s4 import (S4_RECIPE, S4Kernel, _fft_convolution, _toeplitz_convolution,
                                        bidirectional_convolution, load_reference_state_dict)


@pytest.fixture(scope="module")
def golden(shared_dir):
    """The reference model's state (K = 5), an input x, its output y and each block's kernels."""
    with np.load(shared_dir / "reference" / "s4" / "s4_golden.npz") as z:
        return {name: z[name] for name in z.files}


def reference_state(golden):
    return {name[len("state/"):]: value for name, value in golden.items() if name.startswith("state/")}


def relative_error(actual, expected):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return np.abs(actual - expected).max() / np.abs(expected).max()


def n_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_golden_output_and_kernels(golden):
    model = load_reference_state_dict(build_model("s4", 5), reference_state(golden)).eval()
    with torch.no_grad():
        y = model(torch.from_numpy(golden["x"]))
        assert relative_error(y, golden["y"]) <= 1e-4
        for i, block in enumerate(model.backbone.blocks):
            assert relative_error(block.kernel(250), golden[f"kernel/{i}"]) <= 1e-4


def test_golden_state_loads_into_the_ldm_variant(golden):
    """The decoder becomes the LDM head's shared head; the backbone is the reference's."""
    model = load_reference_state_dict(build_model("s4_ldm", 5), reference_state(golden)).eval()
    np.testing.assert_array_equal(model.head.shared.weight.detach().numpy(), golden["state/decoder.weight"])
    with torch.no_grad():
        shared_logits = model.head.shared(model.backbone(torch.from_numpy(golden["x"])))
    assert relative_error(shared_logits, golden["y"]) <= 1e-4


@pytest.mark.parametrize("labels, s4_count, ldm_count", [(71, 2_183_239, 2_554_214), (5, 2_149_381, 2_175_176)])
def test_trainable_parameter_counts(labels, s4_count, ldm_count):
    assert s4_count == 2_146_816 + 513 * labels and ldm_count == 2_146_816 + 5_667 * labels + labels ** 2
    assert n_trainable(build_model("s4", labels)) == s4_count
    assert n_trainable(build_model("s4_ldm", labels)) == ldm_count


def test_frozen_state_space_is_buffers_and_only_C_learns_in_the_kernel():
    model = build_model("s4", 5)
    kernel = model.backbone.blocks[0].kernel
    assert [name for name, _ in kernel.named_parameters()] == ["C"]
    assert sorted(name for name, _ in kernel.named_buffers()) == ["B", "P", "Q", "log_dt", "w"]
    assert sum(b.numel() for b in model.buffers()) == 67_584


def test_seeded_initialisation_draws_what_the_reference_draws(golden):
    """The golden model is the reference built with torch seed 0: with the same seed every drawn tensor is
    the same. B, P, Q and C-tilde live in the eigenbasis of HiPPO-LegS, whose eigenvectors LAPACK may return
    with other signs: there w, |B|, |P| agree, and so does C = C-tilde (I - dA^250)^-1, the draw itself (to
    the reference's float32 rounding in forming C-tilde, about 3e-4)."""
    torch.manual_seed(0)
    ours = build_model("s4", 5)
    theirs = load_reference_state_dict(build_model("s4", 5), reference_state(golden))
    drawn = [n for n, _ in ours.named_parameters() if not n.endswith("kernel.C")] + \
        [n for n, _ in ours.named_buffers() if n.endswith("log_dt")]
    for name in drawn:
        np.testing.assert_allclose(ours.state_dict()[name], theirs.state_dict()[name], rtol=0, atol=1e-6, err_msg=name)
    for block_ours, block_theirs in zip(ours.backbone.blocks, theirs.backbone.blocks):
        k_ours, k_theirs = block_ours.kernel, block_theirs.kernel
        np.testing.assert_allclose(k_ours.w, k_theirs.w, atol=1e-5)
        for name in ("B", "P"):
            norm_ours, norm_theirs = getattr(k_ours, name).norm(dim=-1), getattr(k_theirs, name).norm(dim=-1)
            np.testing.assert_allclose(norm_ours, norm_theirs, atol=1e-5)
        np.testing.assert_allclose(underlying_C(k_ours), underlying_C(k_theirs), rtol=0, atol=2e-3)


def full_state(pairs):
    z = torch.view_as_complex(pairs.detach().double().contiguous())
    return torch.cat([z, z.conj()], dim=-1)


def direct_discretisation(kernel):
    """Bilinear dA, dB of the full 8-dim state in float64 by explicit inverses: (H, 8, 8), (H, 8, 1)."""
    w, P, Q, B = (full_state(t) for t in (kernel.w, kernel.P, kernel.Q, kernel.B))
    A = torch.diag_embed(w) - P.unsqueeze(-1) * Q.unsqueeze(-2)
    dt = torch.exp(kernel.log_dt.double())[:, None, None]
    eye = torch.eye(8, dtype=A.dtype)
    inverse = torch.linalg.inv(eye - dt / 2 * A)
    return inverse @ (eye + dt / 2 * A), dt * inverse @ B.unsqueeze(-1)


def underlying_C(kernel):
    """C = C-tilde (I - dA^L0)^-1 (2, H, 8): the C the kernel applies to dA^l dB."""
    dA, _ = direct_discretisation(kernel)
    eye = torch.eye(8, dtype=dA.dtype)
    inverse = torch.linalg.inv(eye - torch.linalg.matrix_power(dA, kernel.l_max))
    return torch.einsum("chn,hnm->chm", full_state(kernel.C), inverse)


def direct_kernel(kernel, L, channels):
    """k[c, h, l] = Re(C dA^l dB) by explicit matrix powers, float64, for the given channels."""
    dA, dB = direct_discretisation(kernel)
    C = underlying_C(kernel)
    k = torch.empty(2, len(channels), L, dtype=torch.float64)
    for j, h in enumerate(channels):
        for l in range(L):
            k[:, j, l] = (C[:, h] @ torch.linalg.matrix_power(dA[h], l) @ dB[h, :, 0]).real
    return k


def test_cached_kernel_equals_a_direct_computation_for_other_lengths():
    torch.manual_seed(3)
    kernel = S4Kernel(channels=16)
    with torch.no_grad():
        kernel.C.normal_()  # a generic C-tilde, as after training
    channels = [0, 7, 15]
    for L in (100, 333, 100):  # shorter and longer than the reference's 250; 100 again from the cache
        with torch.no_grad():
            k = kernel(L)
        assert k.shape == (2, 16, L)
        assert relative_error(k[:, channels], direct_kernel(kernel, L, channels)) <= 1e-5


def test_loading_new_buffers_forgets_the_cached_kernel():
    torch.manual_seed(4)
    first, second = S4Kernel(channels=8), S4Kernel(channels=8)
    with torch.no_grad():
        first(60)
        first.load_state_dict(second.state_dict())
        np.testing.assert_allclose(first(60), second(60), rtol=0, atol=1e-6)


def direct_bidirectional(u, k, D):
    """The block's convolution by its definition, one output at a time."""
    L = u.shape[-1]
    y = torch.zeros_like(u)
    for l in range(L):
        for j in range(L):
            tap = k[0, :, l - j] if j <= l else k[1, :, j - l - 1]
            y[..., l] += tap[:, None] * u[..., j]
    return y + D[:, None, None] * u


def reference_fft_bidirectional(u, k, D):
    """The reference's formulation: pad(k0, right L) + pad(flip(k1), left L), FFT of length 2L."""
    L = u.shape[-1]
    kernel = F.pad(k[0], (0, L)) + F.pad(k[1].flip(-1), (L, 0))
    y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(kernel, n=2 * L)[:, None], n=2 * L)[..., :L]
    return y + D[:, None, None] * u


def test_both_convolution_paths_compute_the_reference_convolution():
    torch.manual_seed(5)
    H, batch, L = 3, 2, 9
    u, k, D = (torch.randn(*shape, dtype=torch.float64) for shape in ((H, batch, L), (2, H, L), (H,)))
    expected = direct_bidirectional(u, k, D)
    np.testing.assert_allclose(reference_fft_bidirectional(u, k, D), expected, atol=1e-10)
    np.testing.assert_allclose(bidirectional_convolution(u, k, D), expected, atol=1e-10)
    taps = torch.cat([k[1, :, : L - 1].flip(-1), k[0, :, :1] + D[:, None], k[0, :, 1:]], dim=-1)
    np.testing.assert_allclose(_toeplitz_convolution(u, taps), expected, atol=1e-10)
    np.testing.assert_allclose(_fft_convolution(u, taps), expected, atol=1e-10)


def test_gradients_reach_C_and_D_and_not_the_frozen_buffers():
    torch.manual_seed(6)
    model = build_model("s4", 5).train()
    loss = model.loss(model(torch.randn(4, 12, 40)), (torch.rand(4, 5) < 0.5).float())
    loss.backward()
    for block in model.backbone.blocks:
        assert block.kernel.C.grad is not None and block.kernel.C.grad.abs().sum() > 0
        assert block.D.grad is not None and block.D.grad.abs().sum() > 0
        for name, buffer in block.kernel.named_buffers():
            assert not buffer.requires_grad and buffer.grad is None, name
        assert not any(basis.requires_grad for basis in block.kernel._bases.values())


def test_dropout_zeroes_whole_channels_of_a_sample():
    """nn.Dropout2d on the reference's (B, C, L): each (sample, channel) row is kept or dropped whole."""
    torch.manual_seed(7)
    model = build_model("s4", 5).train()
    seen = {}
    model.backbone.blocks[0].dropout.register_forward_hook(lambda m, args, out: seen.update(x=args[0], y=out))
    model(torch.randn(16, 12, 30))
    x, y = seen["x"].detach(), seen["y"].detach()  # (H, batch, L)
    scale = torch.where(x != 0, y / x, torch.nan)  # 0 where dropped, 1 / (1 - 0.2) where kept
    low, high = scale.nan_to_num(torch.inf).amin(-1), scale.nan_to_num(-torch.inf).amax(-1)
    assert torch.allclose(low, high)  # one scale per (channel, sample) row
    assert set(torch.unique(low.round(decimals=4)).tolist()) == {0.0, 1.25}
    assert 0.15 < (low == 0).float().mean() < 0.25


def test_float64_copy_agrees_and_autocast_leaves_the_s4_convolution_in_float32():
    """The kernel map is cached per dtype; under bf16 autocast the S4 convolution (and its kernel) stay float32."""
    torch.manual_seed(9)
    model = build_model("s4", 5).eval()
    x = torch.randn(2, 12, 50)
    seen = []
    model.backbone.blocks[1].activation.register_forward_hook(lambda m, args, out: seen.append(args[0].dtype))
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(x)
        y = model(x)
        y64 = model.double()(x.double())
    assert seen[0] == torch.float32
    assert relative_error(y, y64) <= 1e-5


def test_ldm_variant_returns_logits_and_embeddings_in_training():
    torch.manual_seed(8)
    model = build_model("s4_ldm", 5).train()
    logits, embeddings = model(torch.randn(6, 12, 40))
    assert logits.shape == (6, 5) and embeddings.shape == (5, 6, 8)
    assert isinstance(model.head.shared, nn.Linear)
    loss = model.loss((logits, embeddings), (torch.rand(6, 5) < 0.5).float())
    loss.backward()
    assert torch.isfinite(loss) and model.backbone.blocks[0].kernel.C.grad is not None


def test_registration_and_recipe():
    assert {"s4", "s4_ldm"} <= set(available_models())
    assert model_row("s4") == "S4" and model_row("s4_ldm") == "S4+LDM"
    assert model_recipe("s4") == model_recipe("s4_ldm") == S4_RECIPE
    recipe = S4_RECIPE
    assert (recipe.max_lr, recipe.weight_decay, recipe.betas, recipe.schedule) == (1e-3, 1e-3, (0.9, 0.999), "constant")
    assert recipe.window(100) == recipe.stride(100) == 250 and recipe.aggregate == "mean"
    assert recipe.checkpoint == "best_val_auc" and recipe.epochs == 100
    assert isinstance(build_model("s4", 71).head, nn.Linear)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("decoder.bias"), "missing key 'decoder.bias'"),
    (lambda s: s.update(extra=np.zeros(3)), "unexpected key 'extra'"),
    (lambda s: s.update({"s4_layers.2.D": np.zeros((1, 256))}), "'s4_layers.2.D' has shape (1, 256)"),
    (lambda s: s.update({"s4_layers.0.kernel.kernel.omega": np.zeros((251, 2))}), "251 FFT nodes"),
])
def test_loading_a_wrong_state_dict_names_the_problem(golden, edit, message):
    state = reference_state(golden)
    edit(state)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_reference_state_dict(build_model("s4", 5), state)


def test_loading_into_another_model_is_refused(golden):
    with pytest.raises(UserError, match="build_model"):
        load_reference_state_dict(build_model("fcn_wang", 5), reference_state(golden))
