"""A small multi-layer perceptron backbone: the noisy-label demo's network on 8 x 8 digits."""
from torch import nn


def digits_mlp(in_features=64, hidden=256):
    """(B, 1, 8, 8) -> flatten -> Linear(64, 256), ReLU, Linear(256, 256), ReLU -> (B, 256) features."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    net.out_features = hidden
    return net
