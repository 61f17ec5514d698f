"""The twelve configurations of the LDM paper: each backbone with the benchmark head and with LDM.

The recipe is the benchmark's (fastai 1.0.61 `fit_one_cycle` defaults): AdamW, weight decay 1e-2,
one-cycle to `max_lr`, 50 epochs, batch 128. Quirk kept on purpose: the reference clipped gradients
(norm 0.25) only for models named exactly `lstm` / `lstm_bidir`; its check missed the LDM LSTMs,
which therefore trained without clipping. `clip` below reproduces that.
"""

# model name -> table row, in the paper's row order
MODEL_ROWS = {
    "lstm": "LSTM",
    "lstm_ldm": "LSTM+LDM",
    "inception1d": "Inception1d",
    "inception1d_ldm": "Inception1d+LDM",
    "lstm_bidir": "LSTM_bidir",
    "lstm_bidir_ldm": "LSTM_bidir+LDM",
    "resnet1d_wang": "Resnet1d_wang",
    "resnet1d_wang_ldm": "Resnet1d_wang+LDM",
    "fcn_wang": "FCN_wang",
    "fcn_wang_ldm": "FCN_wang+LDM",
    "xresnet1d101": "XResNet1d101",
    "xresnet1d101_ldm": "XResNet1d101+LDM",
}
MODELS = list(MODEL_ROWS)


def model_config(name):
    """Learning rate, gradient clipping and loss of one of the twelve models."""
    backbone = name[: -len("_ldm")] if name.endswith("_ldm") else name
    return {
        "model": name,
        "max_lr": 1e-3 if backbone in ("lstm", "lstm_bidir") else 1e-2,
        "clip": 0.25 if name in ("lstm", "lstm_bidir") else None,
        "loss": "ldm" if name.endswith("_ldm") else "bce",
        "weight_decay": 1e-2,
    }
