"""resnet1d_wang: the residual network of Wang et al. (2017) as the benchmark configures it."""
from torch import nn

from .heads import ConcatPool1d
from .registry import register_backbone


def conv(in_channels, out_channels, kernel_size, stride=1):
    return nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False)


class BasicBlock1d(nn.Module):
    """Two convolutions (kernels 5 and 3) with BN, added to the input (a strided 1x1 conv + BN when downsampling)."""

    def __init__(self, channels, stride, kernel_sizes=(5, 3)):
        super().__init__()
        self.conv1 = conv(channels, channels, kernel_sizes[0], stride)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = conv(channels, channels, kernel_sizes[1])
        self.bn2 = nn.BatchNorm1d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1:
            self.downsample = nn.Sequential(conv(channels, channels, 1, stride), nn.BatchNorm1d(channels))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


@register_backbone("resnet1d_wang", row="Resnet1d_wang")
def resnet1d_wang(input_channels, channels=128):
    """Stem conv k7 (stride 1, no pooling), then three blocks of 128 channels, stride 2 in blocks 2 and 3."""
    net = nn.Sequential(
        conv(input_channels, channels, 7),
        nn.BatchNorm1d(channels),
        nn.ReLU(inplace=True),
        BasicBlock1d(channels, stride=1),
        BasicBlock1d(channels, stride=2),
        BasicBlock1d(channels, stride=2),
        ConcatPool1d(),
    )
    net.out_features = 2 * channels
    return net
