"""The LDM paper's grid: its six backbones in the order of its table, each with and without LDM.

These are the driver's default models and the first rows of every table; any other registered
backbone (S4, your own) follows them in registration order. Row names, recipes and heads are
registered with each backbone in `models/`.
"""

PAPER_BACKBONES = ["lstm", "inception1d", "lstm_bidir", "resnet1d_wang", "fcn_wang", "xresnet1d101"]
PAPER_MODELS = [name for backbone in PAPER_BACKBONES for name in (backbone, backbone + "_ldm")]
