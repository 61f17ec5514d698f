"""Record-level predictions: every 2.5 s window of every record in large batches, max over windows.

As the benchmark (fastai's `get_preds` applies the sigmoid for a BCE-with-logits loss, then
`np.amax` over windows), predictions are float32 sigmoid probabilities, maximum over windows.
Evaluation always runs in float32, also on CUDA where training uses bf16 autocast: bf16 logits
would round many records to equal scores and move the AUCs in their third decimal.
"""
import numpy as np
import torch

from code_used_upload.utils.crops import sliding_windows

WINDOWS_PER_BATCH = 4096


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
        logits = model(windows).float().reshape(len(chunk), n_windows, -1).amax(dim=1)
        outputs.append(torch.sigmoid(logits).cpu())
    return torch.cat(outputs).numpy().astype(np.float32)
