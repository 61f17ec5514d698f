"""inception1d: InceptionTime (Fawaz et al. 2020) in the benchmark's configuration."""
import torch
from torch import nn

from .heads import ConcatPool1d
from .registry import register_backbone


def conv(in_channels, out_channels, kernel_size, stride=1):
    return nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False)


class InceptionBlock1d(nn.Module):
    """1x1 bottleneck, then parallel convs (39, 19, 9) plus a max-pool + 1x1 branch, concatenated, BN, ReLU."""

    def __init__(self, in_channels, filters, kernel_sizes, bottleneck):
        super().__init__()
        self.bottleneck = conv(in_channels, bottleneck, 1)
        self.convs = nn.ModuleList(conv(bottleneck, filters, k) for k in kernel_sizes)
        self.pool_branch = nn.Sequential(nn.MaxPool1d(3, stride=1, padding=1), conv(in_channels, filters, 1))
        self.bn = nn.BatchNorm1d((len(kernel_sizes) + 1) * filters)
        self.relu = nn.ReLU()

    def forward(self, x):
        bottled = self.bottleneck(x)
        branches = [c(bottled) for c in self.convs] + [self.pool_branch(x)]
        return self.relu(self.bn(torch.cat(branches, dim=1)))


class Shortcut1d(nn.Module):
    """Residual every three blocks: ReLU(out + BN(1x1 conv(block input)))."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = conv(in_channels, out_channels, 1)
        self.bn = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, inp, out):
        return self.relu(out + self.bn(self.conv(inp)))


class Inception1d(nn.Module):
    def __init__(self, input_channels, depth=6, filters=32, bottleneck=32, kernel_sizes=(39, 19, 9)):
        super().__init__()
        width = (len(kernel_sizes) + 1) * filters
        self.blocks = nn.ModuleList(
            InceptionBlock1d(input_channels if d == 0 else width, filters, kernel_sizes, bottleneck) for d in range(depth)
        )
        self.shortcuts = nn.ModuleList(Shortcut1d(input_channels if s == 0 else width, width) for s in range(depth // 3))
        self.pool = ConcatPool1d()
        self.out_features = 2 * width

    def forward(self, x):
        residual = x
        for d, block in enumerate(self.blocks):
            x = block(x)
            if d % 3 == 2:
                x = self.shortcuts[d // 3](residual, x)
                residual = x
        return self.pool(x)


# Fine-tuning: one layer group (lr/1000). The benchmark's get_layer_groups names the last three blocks and the second
# shortcut, which fastai's split then takes as the only group besides the head, so its first three blocks were in
# no optimiser group and never fine-tuned; here they are, at the rate the benchmark gave the second half.
@register_backbone("inception1d", row="Inception1d")
def inception1d(input_channels):
    """Depth 6, 32 filters per branch, bottleneck 32, kernels 39, 19, 9 (the benchmark's kernel_size=40)."""
    return Inception1d(input_channels)
