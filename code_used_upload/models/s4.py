"""s4: the structured state-space model (S4) of Mehari & Strodthoff's PTB-XL benchmark (tmehari/ssm_ecg).

The function (their S4Model with train_ecg_model.py's defaults): a 1x1 convolution 12 -> 512, four
post-norm residual blocks `x = LayerNorm(x + Dropout1d(block(x)))`, the mean over time, one linear layer.
A block is a bidirectional S4 convolution plus the skip D * u, GELU, Dropout1d, and a position-wise
linear 512 -> 1024 followed by a GLU back to 512.

The S4 kernel. Each of the 512 channels has a state of size N = 8 (4 complex numbers and their
conjugates), A = diag(w) - P Q^T from HiPPO-LegS (diagonal plus rank one), B and a step size dt, all
frozen at initialisation as in the reference (its `trainable` is None), discretised bilinearly. Only C
learns, stored as the reference stores it: C-tilde = C (I - dA^L0), L0 = 250 its kernel length, which
spares the reference a matrix power in its frequency-domain kernel. The kernel of one direction is
k[l] = C dA^l dB = C-tilde (I - dA^L0)^-1 dA^l dB: with A, B, dt frozen it is a fixed linear map of
C-tilde. So `S4Kernel` precomputes that map once per sequence length (exactly, in float64) and a
training step computes both kernels of a block with one small einsum, where the reference evaluates
a Cauchy kernel, a Woodbury correction and an inverse FFT every step. For another sequence length L the
kernel is the same C's k[0 .. L-1], as in the reference (it truncates its kernel of length 250, or
doubles that length with C-tilde converted so that C stays the same).

Layout. Inside the backbone the activations are feature-major, (512, batch, time): the convolution
over time is then one batched matrix product per block with the channels as the batch, and the
position-wise linear layer is one matrix product over all batch-time columns.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .ldm import LabelDecouplingHead
from .recipe import Recipe
from .registry import register_backbone

D_MODEL = 512
N_LAYERS = 4
N_HALF = 4            # state size N = 8, held as 4 complex numbers plus their conjugates
L_MAX = 250           # the reference's l_max: its input size, 2.5 s at 100 Hz
DROPOUT = 0.2
DT_MIN, DT_MAX = 1e-3, 1e-1
TOEPLITZ_MAX_LENGTH = 256  # on the CPU up to this length the convolution is a Toeplitz product, else an FFT

# The reference's train_ecg_model.py: torch AdamW over all parameters (default betas and eps), lr 1e-3,
# weight decay 1e-3, no schedule, 100 epochs, the checkpoint with the best validation macro-AUC; at
# evaluation 4 non-overlapping 2.5 s windows per record, their outputs averaged.
S4_RECIPE = Recipe(max_lr=1e-3, weight_decay=1e-3, betas=(0.9, 0.999), schedule="constant", epochs=100,
                   checkpoint="best_val_auc", stride_seconds=2.5, aggregate="mean")


def _pairs(z):
    """A complex tensor as float32 with a trailing (real, imaginary) axis: the reference's storage."""
    return torch.view_as_real(z.resolve_conj().contiguous()).float()


def _complex(pairs):
    """The inverse of `_pairs`, in complex128: the kernel's precomputation runs in double precision."""
    return torch.view_as_complex(pairs.detach().double().cpu().contiguous())


def _with_conjugates(z):
    """The full state from its half: (..., n) -> (..., 2n), the conjugates after the numbers."""
    return torch.cat([z, z.conj()], dim=-1)


def hippo_legs_dplr(n_half=N_HALF):
    """HiPPO-LegS (A, B) of size N = 2 n_half as the reference's `nplr("legs")` gives it: w, P, B (n_half,
    complex128) such that A = V (diag(w) - P P^*) V^* in the full, conjugate-paired basis.

    A + P P^T (P_n = sqrt(n + 1/2)) is normal (-1/2 I plus a skew matrix); in its eigenbasis V, A is
    diagonal plus rank one. Its eigenvalues come in conjugate pairs; one of each pair is kept.
    """
    n = 2 * n_half
    q = torch.arange(n, dtype=torch.float64)
    r = torch.sqrt(2 * q + 1)
    A = -torch.tril(r[:, None] * r[None, :], -1) - torch.diag(q + 1)
    B = r
    P = torch.sqrt(q + 0.5)
    w, V = torch.linalg.eig(A + P[:, None] * P[None, :])
    keep = w.imag > 0
    w, V = w[keep], V[:, keep]
    Vh = V.conj().T
    return w, Vh @ P.to(V.dtype), Vh @ B.to(V.dtype)


class S4Kernel(nn.Module):
    """The two kernels (one per direction) of a bidirectional S4 block: forward(L) -> (2, channels, L).

    Buffers (frozen): w (H, n, 2) the diagonal of A, P and Q (H, n, 2) its low-rank term (A = diag(w) - P Q^T
    over the full state), B (H, n, 2), log_dt (H,). Parameter: C (2, H, n, 2), C-tilde per direction.
    Initialised as the reference: log dt uniform in [log 1e-3, log 1e-1], C the conjugate of a complex
    standard normal draw (the reference keeps `C.conj()`), then C-tilde = C (I - dA^l_max); drawn in the
    reference's order (dt, then C), so that a seed gives the reference's draws.
    """

    def __init__(self, channels=D_MODEL, l_max=L_MAX, n_half=N_HALF):
        super().__init__()
        self.l_max = l_max
        w, P, B = hippo_legs_dplr(n_half)
        log_dt = torch.rand(channels) * (math.log(DT_MAX) - math.log(DT_MIN)) + math.log(DT_MIN)
        C = torch.randn(2, channels, n_half, dtype=torch.cfloat).conj()
        self.register_buffer("log_dt", log_dt)
        self.register_buffer("w", _pairs(w.expand(channels, n_half)))
        self.register_buffer("P", _pairs(P.expand(channels, n_half)))
        self.register_buffer("Q", _pairs(P.conj().expand(channels, n_half)))
        self.register_buffer("B", _pairs(B.expand(channels, n_half)))
        dA, _ = self.discretised()
        C = _with_conjugates(C.to(dA.dtype))
        C_tilde = C - torch.einsum("chn,hnm->chm", C, torch.linalg.matrix_power(dA, l_max))
        self.C = nn.Parameter(_pairs(C_tilde[..., :n_half]))
        self._bases = {}

    def discretised(self):
        """Bilinear discretisation of the full (conjugate-paired) state, in complex128 on the CPU:
        dA = (I - dt/2 A)^-1 (I + dt/2 A), dB = dt (I - dt/2 A)^-1 B; shapes (H, N, N) and (H, N)."""
        w, P, Q, B = (_with_conjugates(_complex(t)) for t in (self.w, self.P, self.Q, self.B))
        A = torch.diag_embed(w) - P[:, :, None] * Q[:, None, :]
        half_dt = (torch.exp(self.log_dt.detach().double().cpu()) / 2)[:, None, None]
        eye = torch.eye(A.shape[-1], dtype=A.dtype)
        implicit_half_step = eye - half_dt * A
        dA = torch.linalg.solve(implicit_half_step, eye + half_dt * A)
        dB = 2 * half_dt[..., 0] * torch.linalg.solve(implicit_half_step, B)
        return dA, dB

    def basis(self, L):
        """`kernel_basis` for length L from the frozen buffers, cached per (L, device, dtype)."""
        key = (L, self.C.device, self.C.dtype)
        if key not in self._bases:
            with torch.no_grad():
                dA, dB = self.discretised()
                basis = kernel_basis(dA, dB, self.l_max, L)
                self._bases[key] = basis.to(device=self.C.device, dtype=self.C.dtype)
        return self._bases[key]

    def forward(self, L):
        """Products and a sum, not a matrix product: exact float32 where TF32 or autocast round matmuls."""
        return (self.C.flatten(-2).unsqueeze(-1) * self.basis(L)).sum(-2)

    def _load_from_state_dict(self, *args, **kwargs):
        """New buffers change the map from C-tilde to the kernel: forget the cached bases."""
        self._bases.clear()
        super()._load_from_state_dict(*args, **kwargs)


def kernel_basis(dA, dB, l_max, L):
    """The fixed linear map from C-tilde to the kernel of length L, (H, N, L) real: kernel[c, h, l] =
    sum_m C[c, h, m] basis[h, m, l] with C-tilde's N/2 (real, imaginary) pairs flattened to m.

    k[l] = Re(C-tilde_full . V_full[l]) with V_full[l] = (I - dA^l_max)^-1 dA^l dB over the full state; its
    second half is the conjugate of the first, so k[l] = 2 Re(C-tilde . V[l]) over the first half: rows 2i
    and 2i + 1 hold 2 Re V_i and -2 Im V_i.
    """
    eye = torch.eye(dA.shape[-1], dtype=dA.dtype)
    states = [torch.linalg.solve(eye - torch.linalg.matrix_power(dA, l_max), dB).unsqueeze(-1)]
    for _ in range(L - 1):
        states.append(dA @ states[-1])
    V = torch.cat(states, dim=-1)[:, : dA.shape[-1] // 2]  # (H, N/2, L)
    return torch.stack([2 * V.real, -2 * V.imag], dim=2).flatten(1, 2)


def bidirectional_convolution(u, k, D):
    """The reference's bidirectional S4 convolution plus D * u, for u (H, batch, L), k (2, H, L), D (H,).

    y[l] = sum_{j <= l} k0[l - j] u[j] + sum_{j > l} k1[j - l - 1] u[j] + D u[l]: what the reference's FFT of
    length 2L with the kernel pad(k0, right L) + pad(flip(k1), left L) computes (k1[L - 1] never reaches
    the first L outputs). As one kernel over the lags -(L-1) .. L-1, D is its lag-0 tap.

    The FFT, the reference's way, serves GPUs and long sequences; the CPU's short sequences take the
    faster Toeplitz product (on a GPU that product would be rounded to TF32 where the FFT stays float32).
    """
    L = u.shape[-1]
    taps = torch.cat([k[1, :, : L - 1].flip(-1), k[0, :, :1] + D[:, None], k[0, :, 1:]], dim=-1)  # lag + L - 1
    if u.device.type == "cpu" and L <= TOEPLITZ_MAX_LENGTH:
        return _toeplitz_convolution(u, taps)
    return _fft_convolution(u, taps)


def _toeplitz_convolution(u, taps):
    """y[h, :, i] = sum_j u[h, :, j] taps[h, i - j + L - 1] as one batched matrix product over the channels.
    On the CPU at L = 250 this is about twice as fast as the FFTs (forward and backward); its (H, L, L)
    matrix grows as L^2, hence the FFT for longer sequences."""
    L = u.shape[-1]
    # M[h, j, i] = taps[h, i - j + L - 1]: row j is the window of taps starting at L - 1 - j
    M = taps.unfold(-1, L, 1).flip(1)
    return torch.bmm(u, M)


def _fft_convolution(u, taps):
    """The same product by FFT (GPUs, long sequences): a circular convolution of length n >= 2L - 1 has no
    wrap-around within the first L outputs when the negative lags sit at the end of the kernel."""
    L = u.shape[-1]
    n = 1 << (2 * L - 2).bit_length()
    kernel = torch.cat([taps[:, L - 1:], taps.new_zeros(taps.shape[0], n - 2 * L + 1), taps[:, : L - 1]], dim=-1)
    y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(kernel, n=n).unsqueeze(1), n=n)
    return y[..., :L]


def feature_layer_norm(x, norm):
    """nn.LayerNorm `norm` over axis 0 of a feature-major (H, N) tensor. The training-mode batch norm of an
    (H, N) tensor normalises each column over its H rows with the biased variance: LayerNorm's statistics,
    computed in one fused kernel without transposing; the affine part is LayerNorm's, per row."""
    normalised = F.batch_norm(x, None, None, training=True, eps=norm.eps)
    return torch.addcmul(norm.bias[:, None], normalised, norm.weight[:, None])


class S4Block(nn.Module):
    """x (H, batch, L) -> LayerNorm(x + Dropout1d(GLU(Linear(Dropout1d(GELU(S4(x) + D x)))))).

    Dropout1d zeroes whole (sample, channel) rows as the reference's nn.Dropout2d on (B, C, L) does; on the
    feature-major (H, batch, L) tensor nn.Dropout1d draws the same independent (channel, sample) mask.
    """

    def __init__(self, channels=D_MODEL, l_max=L_MAX, dropout=DROPOUT):
        super().__init__()
        self.D = nn.Parameter(torch.randn(channels))
        self.kernel = S4Kernel(channels, l_max)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout1d(dropout)
        self.linear = nn.Linear(channels, 2 * channels)
        self.output_dropout = nn.Dropout1d(dropout)
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        H, batch, L = x.shape
        with torch.autocast(x.device.type, enabled=False):  # the S4 kernel and convolution never in bf16
            z = bidirectional_convolution(x.to(self.D.dtype), self.kernel(L), self.D)
        z = self.dropout(self.activation(z))
        z = torch.addmm(self.linear.bias[:, None], self.linear.weight, z.view(H, batch * L))
        z = self.output_dropout(F.glu(z, dim=0).view(H, batch, L))
        return feature_layer_norm((x + z).view(H, batch * L), self.norm).view(H, batch, L)


class S4Backbone(nn.Module):
    """(B, C, T) -> (B, 512): the encoder (a 1x1 convolution, held as a Linear), four S4 blocks, the mean
    over time. The linear head that follows is the registry's (`s4_head`)."""

    def __init__(self, input_channels, channels=D_MODEL, n_layers=N_LAYERS, l_max=L_MAX, dropout=DROPOUT):
        super().__init__()
        self.encoder = nn.Linear(input_channels, channels)
        self.blocks = nn.ModuleList(S4Block(channels, l_max, dropout) for _ in range(n_layers))
        self.out_features = channels

    def forward(self, x):
        batch, C, L = x.shape
        signals = x.transpose(0, 1).reshape(C, batch * L)
        h = torch.addmm(self.encoder.bias[:, None], self.encoder.weight, signals).view(-1, batch, L)
        for block in self.blocks:
            h = block(h)
        return h.mean(-1).t()


def s4_head(in_features, num_classes):
    """The reference's decoder: one linear layer on the pooled features."""
    return nn.Linear(in_features, num_classes)


@register_backbone("s4", row="S4", recipe=S4_RECIPE, head=s4_head, init=None)
def s4(input_channels):
    """Mehari & Strodthoff's bidirectional S4 (d_model 512, N 8, 4 layers, dropout 0.2), PyTorch's default
    initialisation of the ordinary layers as in the reference."""
    return S4Backbone(input_channels)


def _reference_names(n_layers):
    """The reference S4Model's state-dict names -> this backbone's (relative to `backbone.`), the decoder
    apart."""
    names = {"encoder.weight": "encoder.weight", "encoder.bias": "encoder.bias"}
    for i in range(n_layers):
        ref, ours = f"s4_layers.{i}", f"blocks.{i}"
        names[f"{ref}.D"] = f"{ours}.D"
        for buffer in ("C", "log_dt", "B", "P", "w", "Q"):
            names[f"{ref}.kernel.kernel.{buffer}"] = f"{ours}.kernel.{buffer}"
        for field in ("weight", "bias"):
            names[f"{ref}.output_linear.0.{field}"] = f"{ours}.linear.{field}"
            names[f"norms.{i}.{field}"] = f"{ours}.norm.{field}"
    return names


def _squeezed_shape(shape):
    return tuple(s for s in shape if s != 1)


def load_reference_state_dict(model, state_dict):
    """Load a state_dict of the reference's S4Model (names `encoder.*`, `s4_layers.<i>.*`, `norms.<i>.*`,
    `decoder.*`; complex numbers as trailing pairs; numpy arrays or tensors) into `build_model("s4", K)` or,
    the decoder going to the LDM head's shared head, `build_model("s4_ldm", K)`.

    Shapes may differ by axes of size 1 only (the reference's conv weight (512, 12, 1), D (1, 512), linear
    bias (1024, 1)). The FFT nodes `omega` and `z` are derived and not loaded, but their length tells the
    reference's kernel length, which must be this model's (C-tilde is relative to it).
    """
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, S4Backbone):
        raise UserError("load_reference_state_dict needs a model built by build_model('s4', K) or ('s4_ldm', K)")
    head = model.head.shared if isinstance(model.head, LabelDecouplingHead) else model.head
    head_prefix = "head.shared." if head is not model.head else "head."
    names = {ref: "backbone." + ours for ref, ours in _reference_names(len(backbone.blocks)).items()}
    names.update({f"decoder.{field}": head_prefix + field for field in ("weight", "bias")})

    state = model.state_dict()
    problems, derived = [], {}
    for ref_name, value in state_dict.items():
        if ref_name.rsplit(".", 1)[-1] in ("omega", "z") and ref_name.startswith("s4_layers."):
            derived[ref_name] = torch.as_tensor(value)
        elif ref_name not in names:
            problems.append(f"unexpected key {ref_name!r}")
        else:
            value, ours = torch.as_tensor(value), names[ref_name]
            if _squeezed_shape(value.shape) != _squeezed_shape(state[ours].shape):
                problems.append(f"{ref_name!r} has shape {tuple(value.shape)}, this model's {ours!r} "
                                f"{tuple(state[ours].shape)}")
            else:
                state[ours] = value.detach().reshape(state[ours].shape).to(state[ours].dtype)
    problems += [f"missing key {ref_name!r}" for ref_name in names if ref_name not in state_dict]
    for ref_name, nodes in derived.items():
        if nodes.shape[0] != backbone.blocks[0].kernel.l_max // 2 + 1:
            problems.append(f"{ref_name!r} has {nodes.shape[0]} FFT nodes: the reference's kernel length was "
                            f"not this model's {backbone.blocks[0].kernel.l_max}")
    if problems:
        raise UserError("the state_dict is not the reference S4Model's for this model: " + "; ".join(problems))
    model.load_state_dict(state)
    return model
