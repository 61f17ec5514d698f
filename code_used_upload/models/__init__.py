"""Models: `build_model(name, num_classes, input_channels=12)` for every registered backbone and its `_ldm` variant.

Importing the backbone modules registers them; a user's own backbone registers the same way:

    @register_backbone("my_cnn")
    def my_cnn(input_channels):
        net = nn.Sequential(nn.Conv1d(input_channels, 64, 5, padding=2), nn.ReLU(), ConcatPool1d())
        net.out_features = 128
        return net
"""
from . import rnn1d, inception1d, resnet1d, basic_conv1d, xresnet1d  # noqa: F401  (registers them, in the paper's order)
from .heads import ConcatPool1d, benchmark_head
from .registry import available_models, build_model, register_backbone

__all__ = ["available_models", "benchmark_head", "build_model", "ConcatPool1d", "register_backbone"]
