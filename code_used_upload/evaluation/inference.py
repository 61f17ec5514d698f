"""Record-level predictions: every window of every record in large batches, aggregated over windows.

As the benchmark (fastai's `get_preds` applies the sigmoid for a BCE-with-logits loss, then
`np.amax` over windows), predictions are float32 sigmoid probabilities; the recipe says the window
length, the stride and whether a record takes the maximum (the benchmark) or the mean (S4's
reference) over its windows. Evaluation always runs in float32, also on CUDA where training uses
bf16 autocast: bf16 logits would round many records to equal scores and move the AUCs in their
third decimal. Records come as they are stored, of any length (data/records.py), and are read, moved
to the device and standardised a chunk at a time, so a fold is never copied whole.

The windows of a record are the benchmark's (`TimeseriesDatasetCrops` with chunkify, stride =
window / 2 for its models, min_chunk_length = window): they start at 0, stride, 2 stride, ... and
every one is whole, so a record of T samples has (T - window) // stride + 1 of them, and a tail that
does not fill a last window is not seen: none of PTB-XL's 10 s at the paper's 2.5 s / 1.25 s (nor at
S4's 2.5 s / 2.5 s), up to one stride less a sample of an ICBEB 2018 record. The benchmark leaves a
record shorter than one window out of its predictions altogether, so that its rows no longer match
the labels'; here such a record is an error.
"""
import numpy as np
import torch

from code_used_upload.data.records import as_records, chunks, equal_sizes

# a batch of 4096 windows of 2.5 s at 100 Hz; at 500 Hz the same samples make 819 windows, so that
# a batch's activations take the same memory at either rate (4096 windows at 500 Hz: 8 GB in fcn_wang)
SAMPLES_PER_BATCH = 4096 * 250


def window_counts(lengths, window, stride):
    """(records,) int64: the whole windows of `window` samples at `stride` in records of `lengths`."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and lengths.min() < window:
        raise ValueError(f"a record of {lengths.min()} samples is shorter than one window of {window}")
    return (lengths - window) // stride + 1


def record_windows(flat, offsets, counts, window, stride):
    """Every record's windows, record after record, in the models' layout (windows, leads, window): one
    gather from `flat` (samples, leads), the records starting at `offsets`, with `counts` windows each."""
    record = np.repeat(np.arange(len(counts)), counts)
    first_window = np.cumsum(counts) - counts
    starts = offsets[:-1][record] + (np.arange(len(record)) - first_window[record]) * stride
    return flat.unfold(0, window, 1).index_select(0, torch.as_tensor(starts, device=flat.device))


def aggregate_windows(probabilities, counts, aggregate):
    """(records, labels): the `aggregate` (max or mean) over each record's consecutive rows of
    `probabilities` (windows, labels), `counts` rows each. A segment reduction: the records with one
    window count are one (records, windows, labels) block, so records of one length (PTB-XL) take one
    reduction, the very one a fixed-length evaluation makes, and ICBEB's lengths a few dozen."""
    reduced = torch.empty((len(counts), probabilities.shape[1]), dtype=probabilities.dtype, device=probabilities.device)
    first_window = np.cumsum(counts) - counts
    for count, rows in equal_sizes(counts):
        index = torch.as_tensor(first_window[rows][:, None] + np.arange(count), device=probabilities.device)
        block = probabilities[index]
        reduced[torch.as_tensor(rows, device=probabilities.device)] = (
            block.amax(dim=1) if aggregate == "max" else block.mean(dim=1))
    return reduced


@torch.no_grad()
def predict_records(model, signals, window, stride, device, aggregate="max", windows_per_batch=None,
                    standardise=None):
    """Probabilities (records, labels) for `signals`: Records of any length, a `data.task.Fold` of them
    (read from the memory map a chunk at a time), or an array or tensor (records, time, leads).

    Records are read in chunks whose windows fill one batch (of `windows_per_batch`, by default
    SAMPLES_PER_BATCH // window), and `standardise` (the task's scaler) is applied to each chunk on
    the device; the model is put in eval mode. `aggregate` is applied to the windows' sigmoid
    probabilities of each record: `max` or `mean`.
    """
    model.eval()
    records = as_records(signals)
    counts = window_counts(records.lengths, window, stride)
    outputs = []
    for start, stop in chunks(counts, windows_per_batch or SAMPLES_PER_BATCH // window):
        block = records[start:stop]
        flat = torch.as_tensor(block.flat).to(device, non_blocking=True)
        if standardise is not None:
            flat = standardise(flat)
        windows = record_windows(flat, block.offsets, counts[start:stop], window, stride)
        probabilities = torch.sigmoid(model(windows).float())
        outputs.append(aggregate_windows(probabilities, counts[start:stop], aggregate).cpu())
    return torch.cat(outputs).numpy().astype(np.float32)


def predict_with_recipe(model, signals, recipe, sampling_frequency, device, standardise=None):
    """predict_records with the recipe's window, stride and aggregation at `sampling_frequency`."""
    return predict_records(model, signals, recipe.window(sampling_frequency), recipe.stride(sampling_frequency),
                           device, aggregate=recipe.aggregate, standardise=standardise)
