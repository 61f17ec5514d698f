"""Models: `build_model(name, num_classes, input_channels=12)` for every registered backbone and its `_ldm` variant.

Every module of this package is imported here, and a backbone module registers its backbones when
imported, so a new backbone is one new file in this folder:

    @register_backbone("my_cnn", row="My CNN")
    def my_cnn(input_channels):
        net = nn.Sequential(nn.Conv1d(input_channels, 64, 5, padding=2), nn.ReLU(), ConcatPool1d())
        net.out_features = 128
        return net
"""
import importlib
import pkgutil

from .heads import ConcatPool1d, benchmark_head
from .recipe import Recipe
from .registry import available_models, build_model, model_recipe, model_row, register_backbone, split_model_name

for _module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["available_models", "benchmark_head", "build_model", "ConcatPool1d", "model_recipe", "model_row",
           "Recipe", "register_backbone", "split_model_name"]
