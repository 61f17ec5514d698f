"""Pooling and the benchmark's classification head, shared by every backbone.

A backbone ends in a pooling layer and hands (batch, features) to a head; the head is chosen by the
registry (benchmark head or Label Decoupling head), so the same backbone serves both variants.
"""
import torch
from torch import nn

HEAD_HIDDEN = 128  # the benchmark's lin_ftrs_head=[128]
HEAD_DROPOUT = (0.25, 0.5)  # ps_head=0.5: half of it before the hidden layer, all of it before the output


class ConcatPool1d(nn.Module):
    """Adaptive max- and average-pooling over time, concatenated: (B, C, T) -> (B, 2C), max first."""

    def forward(self, x):
        return torch.cat([x.amax(dim=-1), x.mean(dim=-1)], dim=1)


def benchmark_head(in_features, num_classes):
    """BN, Dropout 0.25, Linear(-> 128), ReLU, BN, Dropout 0.5, Linear(128 -> labels), as fastai's bn_drop_lin."""
    return nn.Sequential(
        nn.BatchNorm1d(in_features),
        nn.Dropout(HEAD_DROPOUT[0]),
        nn.Linear(in_features, HEAD_HIDDEN),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(HEAD_HIDDEN),
        nn.Dropout(HEAD_DROPOUT[1]),
        nn.Linear(HEAD_HIDDEN, num_classes),
    )
