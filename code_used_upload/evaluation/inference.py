"""Record-level predictions: every window of every record in large batches, aggregated over windows.

As the benchmark (fastai's `get_preds` applies the sigmoid for a BCE-with-logits loss, then
`np.amax` over windows), predictions are float32 sigmoid probabilities; the recipe says the window
length, the stride and whether a record takes the maximum (the benchmark) or the mean (S4's
reference) over its windows. Evaluation always runs in float32, also on CUDA where training uses
bf16 autocast: bf16 logits would round many records to equal scores and move the AUCs in their
third decimal. Records come as they are stored, (records, time, leads), and are read, moved to the
device and standardised a chunk at a time, so a fold is never copied whole.
"""
import numpy as np
import torch

# a batch of 4096 windows of 2.5 s at 100 Hz; at 500 Hz the same samples make 819 windows, so that
# a batch's activations take the same memory at either rate (4096 windows at 500 Hz: 8 GB in fcn_wang)
SAMPLES_PER_BATCH = 4096 * 250


def sliding_windows(signals, length, stride):
    """All windows of `length` samples at `stride` of each record (records, time, leads), in the
    models' layout: (records, windows, leads, length).

    A strided view: no copy is made until the windows are fed to a model.
    """
    if signals.shape[1] < length:
        raise ValueError(f"records of {signals.shape[1]} samples are shorter than one window of {length}")
    return signals.unfold(1, length, stride)


@torch.no_grad()
def predict_records(model, signals, window, stride, device, aggregate="max", windows_per_batch=None,
                    standardise=None):
    """Probabilities (records, labels) for `signals` (records, time, leads): a tensor, an array, or
    anything with `shape` whose slices are one of those (a `data.task.Fold` of the memory map).

    Records are read in chunks whose windows fill one batch (of `windows_per_batch`, by default
    SAMPLES_PER_BATCH // window), and `standardise` (the task's scaler) is applied to each chunk on
    the device; the model is put in eval mode. `aggregate` is applied to the windows' sigmoid
    probabilities of each record: `max` or `mean`.
    """
    model.eval()
    n_records, n_time, n_leads = signals.shape
    n_windows = (n_time - window) // stride + 1
    records_per_batch = max(1, (windows_per_batch or SAMPLES_PER_BATCH // window) // n_windows)
    outputs = []
    for start in range(0, n_records, records_per_batch):
        chunk = torch.as_tensor(signals[start:start + records_per_batch]).to(device, non_blocking=True)
        if standardise is not None:
            chunk = standardise(chunk)
        windows = sliding_windows(chunk, window, stride).reshape(-1, n_leads, window)
        probabilities = torch.sigmoid(model(windows).float()).reshape(len(chunk), n_windows, -1)
        outputs.append((probabilities.amax(dim=1) if aggregate == "max" else probabilities.mean(dim=1)).cpu())
    return torch.cat(outputs).numpy().astype(np.float32)


def predict_with_recipe(model, signals, recipe, sampling_frequency, device, standardise=None):
    """predict_records with the recipe's window, stride and aggregation at `sampling_frequency`."""
    return predict_records(model, signals, recipe.window(sampling_frequency), recipe.stride(sampling_frequency),
                           device, aggregate=recipe.aggregate, standardise=standardise)
