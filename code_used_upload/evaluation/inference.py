"""Record-level predictions: every window of every record in large batches, aggregated over windows.

As the benchmark (fastai's `get_preds` applies the sigmoid for a BCE-with-logits loss, then
`np.amax` over windows), predictions are float32 sigmoid probabilities; the recipe says the window
length, the stride and whether a record takes the maximum (the benchmark) or the mean (S4's
reference) over its windows. Evaluation always runs in float32, also on CUDA where training uses
bf16 autocast: bf16 logits would round many records to equal scores and move the AUCs in their
third decimal.
"""
import numpy as np
import torch

WINDOWS_PER_BATCH = 4096


def sliding_windows(signals, length, stride):
    """All windows of `length` samples at `stride` of each record: (records, windows, leads, length).

    A strided view: no copy is made until the windows are fed to a model.
    """
    if signals.shape[-1] < length:
        raise ValueError(f"records of {signals.shape[-1]} samples are shorter than one window of {length}")
    return signals.unfold(2, length, stride).permute(0, 2, 1, 3)


@torch.no_grad()
def predict_records(model, signals, window, stride, device, aggregate="max", windows_per_batch=WINDOWS_PER_BATCH):
    """Probabilities (records, labels) for `signals` (records, leads, time), a tensor or an array.

    Records are fed in chunks whose windows fill one batch; the model is put in eval mode. `aggregate`
    is applied to the windows' sigmoid probabilities of each record: `max` or `mean`.
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
        probabilities = torch.sigmoid(model(windows).float()).reshape(len(chunk), n_windows, -1)
        outputs.append((probabilities.amax(dim=1) if aggregate == "max" else probabilities.mean(dim=1)).cpu())
    return torch.cat(outputs).numpy().astype(np.float32)


def predict_with_recipe(model, signals, recipe, sampling_frequency, device):
    """predict_records with the recipe's window, stride and aggregation at `sampling_frequency`."""
    return predict_records(model, signals, recipe.window(sampling_frequency), recipe.stride(sampling_frequency),
                           device, aggregate=recipe.aggregate)
