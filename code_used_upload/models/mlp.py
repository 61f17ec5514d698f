"""A small multi-layer perceptron backbone: the noisy-label demo's network on 8 x 8 digits, and `--arch mlp`
on a user's small images, flattened (C * H * W inputs)."""
from torch import nn


def digits_mlp(in_features=64, hidden=256):
    """(B, C, H, W) -> flatten -> Linear(C*H*W, 256), ReLU, Linear(256, 256), ReLU -> (B, 256) features;
    in_features = C*H*W, 64 for the 8 x 8 digits."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    net.out_features = hidden
    return net
