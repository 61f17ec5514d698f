"""The training device and the numerics every cell runs with: precision, determinism, CPU threads.

The reference trained in float32 (fastai 1.0.61 without `to_fp16`, torch 1.10, whose convolutions
and matmuls used TF32 by default on Ampere and newer GPUs). Precision is one of:
- `tf32` (default): float32 weights and activations, TF32 tensor-core convolutions and matmuls on CUDA;
- `fp32`: strict float32, TF32 off;
- `bf16`: bf16 autocast for the training forward pass on CUDA (models opt out where they must: the
  LSTMs always run in float32, see models/rnn1d.py). Evaluation is never under autocast.
On the CPU every choice computes in float32. `deterministic` asks CUDA for deterministic algorithms
and no cuDNN autotuning, so two runs of a cell give the same bytes. The intra-op thread count
orders the CPU's float sums, so it is a setting of the run: the same on every executor.
"""
import contextlib
import ctypes
import functools
import os
import re
from pathlib import Path

import torch

from code_used_upload.errors import UserError
from code_used_upload.training.settings import PRECISIONS



@functools.lru_cache(maxsize=None)
def resolve_device(name="auto"):
    """`auto` picks CUDA when present; a clear error for a name that is not a device or a missing GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise UserError(f"device {name!r}: use auto, cpu or cuda (cuda:N for a given GPU, N from 0)")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} was asked for, but this torch sees no CUDA GPU "
                        f"(torch {torch.__version__}); use cpu or install a CUDA build of torch")
    return device


def default_threads():
    """Every core of this machine: what a CPU cell uses unless the run says otherwise."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def configure_numerics(precision="tf32", deterministic=False, threads=None):
    """Set the process-wide switches a cell's numbers depend on; called at the start of every cell."""
    if precision not in PRECISIONS:
        raise UserError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    torch.set_num_threads(threads or default_threads())
    _mkl_uses_exactly_the_threads_asked_for()
    _settle_mkl_vector_math()
    tf32 = precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for determinism
    torch.use_deterministic_algorithms(deterministic, warn_only=False)


def _mkl_uses_exactly_the_threads_asked_for():
    """MKL, torch's CPU BLAS on x86, may use fewer threads than asked while the machine is busy
    (MKL_DYNAMIC is on by default), and then orders its sums differently: the same cell gave other
    numbers under load. Switch that off through MKL's C interface, where torch's build carries it."""
    if not torch.backends.mkl.is_available():
        return
    try:
        ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so")).MKL_Set_Dynamic(ctypes.c_int(0))
    except (OSError, AttributeError):  # another build or platform: MKL_DYNAMIC=FALSE does the same
        pass


# torch's elementwise functions that run through MKL's vector math (VML) on contiguous CPU tensors
VML_FUNCTIONS = ("abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "erf", "erfc", "erfinv", "exp", "expm1",
                 "floor", "lgamma", "log", "log10", "log1p", "log2", "round", "rsqrt", "sin", "sinh", "sqrt",
                 "tan", "tanh", "trunc")


@functools.lru_cache(maxsize=None)
def _settle_mkl_vector_math():
    """Call each of torch's MKL vector-math functions once, on a few values, in this thread alone.

    torch splits such a function over its threads from 2,048 values up, and MKL picks a function's code
    path on its first call. When that first call runs on two threads at once, the second thread may
    compute its half with a less accurate path: AdamW's first `sqrt` of a 12,288-value tensor came out
    with relative errors up to 1e-4 in the second half, in 4 of 10 fresh 2-thread processes, and the
    first cell of a run, local or on Ray, then trained to another AUC. One thread never did; after this
    warm-up no process did (14 of 14). Once per process, before a cell computes anything."""
    values = torch.full((16,), 0.5)
    for dtype in (torch.float32, torch.float64):
        for name in VML_FUNCTIONS:
            getattr(torch, name)(values.to(dtype))


def training_autocast(device, precision):
    """The forward pass's context: bf16 autocast on CUDA under `bf16`, otherwise plain float32."""
    if precision == "bf16" and torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe_device(device):
    """What a cell's numbers depend on besides its settings: the device model and the library versions."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    return {"device": str(device), "device_name": name, "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None}
