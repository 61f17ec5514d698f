"""The training device, resolved once per process from the run's `device` setting."""
import functools

import torch

from code_used_upload.errors import UserError


@functools.lru_cache(maxsize=None)
def resolve_device(name="auto"):
    """`auto` picks CUDA when present; TF32 matmuls are switched on for CUDA runs."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise UserError(f"device {name!r}: use auto, cpu or cuda (cuda:N for a given GPU)")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {name!r} was asked for, but this torch sees no CUDA GPU "
                            f"(torch {torch.__version__}); use cpu or install a CUDA build of torch")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return device
