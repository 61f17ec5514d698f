"""PreAct-ResNet18 for 32 x 32 images, as the HMW authors train it (their PreResNet_cifar_real.py, from UniCon).

This is their variant, not He et al.'s nor kuangliu's: the stem is conv3x3(3 -> 64) followed by
BatchNorm and ReLU (kuangliu's has no stem BN); each pre-activation block is BN-ReLU, then conv3x3,
BN-ReLU, conv3x3 plus a shortcut of the BN-ReLU'd input: the identity or, where the shape changes, a
bare 1x1 convolution (no BatchNorm); layer4's output goes straight to a 4 x 4 average pool (no final
BN-ReLU). That is 11,166,144 parameters (their ResNet18 less its linear layer and projection head). Their module also holds the linear classifier and a projection head
(Linear(512, 128) + BatchNorm1d) for UniCon's contrastive loss; here the backbone ends at the 512
pooled features, which the HMW head classifies. PyTorch's default initialisation, as theirs.

Beyond theirs, for a user's own images: `in_channels` (1 for grey images; 3, the default, leaves every
state dict as theirs) and any square side. Their 4 x 4 average pool is the global average of layer4's
map on 32 x 32 images; here the pool's kernel is the whole map, the same operation (bit for bit) at
32 x 32 and the global average at any other side, so the features stay 512.
"""
import torch.nn.functional as F
from torch import nn


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class PreActBlock(nn.Module):
    """BN-ReLU, then conv3x3-BN-ReLU-conv3x3 plus a shortcut, both from the pre-activated input.

    As in the authors' code (DivideMix's, UniCon's), the identity shortcut too carries the BN-ReLU'd
    input, not the block's input (kuangliu's PreActBlock adds the raw input): their shortcut is an
    empty nn.Sequential applied to the pre-activation. Module names as theirs, so their weights load.
    """

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out)
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return out + shortcut


class PreActResNet(nn.Module):
    """(B, in_channels, H, W) -> (B, 512) pooled features; the authors' network for (B, 3, 32, 32)."""

    def __init__(self, num_blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512), in_channels=3):
        super().__init__()
        self.conv1 = conv3x3(in_channels, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, in_planes = [], widths[0]
        for stage, (planes, blocks) in enumerate(zip(widths, num_blocks)):
            strides = [1 if stage == 0 else 2] + [1] * (blocks - 1)
            layers.append(nn.Sequential(*[PreActBlock(in_planes if i == 0 else planes, planes, s) for i, s in enumerate(strides)]))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.out_features = widths[-1]

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return F.avg_pool2d(out, out.shape[-2:]).flatten(1)  # 4 x 4 on 32 x 32 images, as theirs


def preact_resnet18(in_channels=3):
    """The authors' PreAct-ResNet18 backbone: 11,166,144 parameters with 3 input channels, 512 features
    (`out_features`)."""
    return PreActResNet((2, 2, 2, 2), in_channels=in_channels)
