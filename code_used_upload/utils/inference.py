"""Record-level predictions: every 2.5 s window of every record in large batches, max over windows.

The benchmark aggregates window outputs with `np.amax`; we return sigmoid probabilities, and since
the sigmoid is monotonic the maximum of probabilities is the sigmoid of the maximum logit, so every
AUC is the benchmark's.
"""
import contextlib

import numpy as np
import torch

from code_used_upload.utils.crops import sliding_windows

WINDOWS_PER_BATCH = 4096


def autocast_for(device):
    """bf16 autocast on CUDA (fast, and the LDM loss is computed in float32 anyway); none on CPU,
    which stays float32 and deterministic."""
    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_records(model, signals, window, stride, device, windows_per_batch=WINDOWS_PER_BATCH):
    """Probabilities (records, labels) for `signals` (records, leads, time), a tensor or an array.

    Records are fed in chunks whose windows fill one batch; the model is put in eval mode.
    """
    model.eval()
    signals = torch.as_tensor(signals)
    n_records, n_leads, n_time = signals.shape
    n_windows = (n_time - window) // stride + 1
    records_per_batch = max(1, windows_per_batch // n_windows)
    outputs = []
    for start in range(0, n_records, records_per_batch):
        chunk = signals[start:start + records_per_batch].to(device, non_blocking=True)
        windows = sliding_windows(chunk, window, stride).reshape(-1, n_leads, window)
        with autocast_for(device):
            logits = model(windows)
        logits = logits.float().reshape(len(chunk), n_windows, -1).amax(dim=1)
        outputs.append(torch.sigmoid(logits).cpu())
    return torch.cat(outputs).numpy().astype(np.float32)
