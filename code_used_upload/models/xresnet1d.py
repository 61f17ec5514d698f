"""xresnet1d101: the 1-D xresnet ("bag of tricks" ResNet-D) of the benchmark, fastai v2 style."""
from torch import nn

from .heads import ConcatPool1d
from .registry import register_backbone


def conv_bn(in_channels, out_channels, kernel_size, stride=1, relu=True):
    """Conv (no bias) -> BN [-> ReLU], padding (k-1)//2: fastai's ConvLayer with BatchNorm first."""
    layers = [
        nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False),
        nn.BatchNorm1d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck1d(nn.Module):
    """1x1 -> kxk (strided) -> 1x1 (x4 channels); the identity path average-pools when strided (ResNet-D)
    and uses a 1x1 conv + BN only where the channel count changes."""

    def __init__(self, in_channels, width, stride, kernel_size, expansion=4):
        super().__init__()
        out_channels = width * expansion
        self.convs = nn.Sequential(
            conv_bn(in_channels, width, 1),
            conv_bn(width, width, kernel_size, stride=stride),
            conv_bn(width, out_channels, 1, relu=False),
        )
        idpath = []
        if stride != 1:
            idpath.append(nn.AvgPool1d(2, ceil_mode=True))
        if in_channels != out_channels:
            idpath.append(conv_bn(in_channels, out_channels, 1, relu=False))
        self.idpath = nn.Sequential(*idpath)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.convs(x) + self.idpath(x))


class XResNet1d(nn.Sequential):
    def __init__(self, input_channels, layers=(3, 4, 23, 3), width=64, expansion=4, kernel_size=5, stem=(32, 32, 64)):
        stem_channels = [input_channels, *stem]
        modules = [conv_bn(stem_channels[i], stem_channels[i + 1], kernel_size, stride=2 if i == 0 else 1) for i in range(3)]
        modules.append(nn.MaxPool1d(3, stride=2, padding=1))
        in_channels = stem[-1]
        for stage, blocks in enumerate(layers):
            for b in range(blocks):
                stride = 2 if (stage > 0 and b == 0) else 1
                modules.append(Bottleneck1d(in_channels, width, stride, kernel_size, expansion))
                in_channels = width * expansion
        modules.append(ConcatPool1d())
        super().__init__(*modules)
        self.out_features = 2 * in_channels


@register_backbone("xresnet1d101", row="XResNet1d101", layer_groups=lambda net: [list(net)[:3], list(net)[3:]])  # the benchmark's
# split at its max-pool (get_layer_groups: self[3]): the stem's three convolutions, then the pool and the blocks
def xresnet1d101(input_channels):
    """Stem 32-32-64 (kernel 5, first stride 2) + max-pool; bottlenecks [3, 4, 23, 3] of width 64, kernel 5."""
    return XResNet1d(input_channels)
