"""fcn_wang: the fully convolutional network of Wang et al. (2017) as the benchmark configures it."""
from torch import nn

from .heads import ConcatPool1d
from .registry import register_backbone


def conv_bn_relu(in_channels, out_channels, kernel_size, stride=1):
    """Conv without bias (BatchNorm follows), 'same'-style padding (k-1)//2, then BN and ReLU."""
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(inplace=True),
    )


@register_backbone("fcn_wang", row="FCN_wang", layer_groups=lambda net: [list(net)[:2], list(net)[2:]])  # the benchmark's split at
# its third convolution (get_layer_groups: self[2]): the first two, then the third
def fcn_wang(input_channels):
    """Three conv-BN-ReLU layers of 128, 256, 128 channels, kernels 8, 5, 3, stride 1; pooled to 256 features."""
    net = nn.Sequential(
        conv_bn_relu(input_channels, 128, 8),
        conv_bn_relu(128, 256, 5),
        conv_bn_relu(256, 128, 3),
        ConcatPool1d(),
    )
    net.out_features = 2 * 128
    return net
