"""The HMW authors' PreAct-ResNet18 backbone: its parameter count, its output, its identity shortcuts."""
import torch

from code_used_upload.models.preact_resnet import preact_resnet18


def test_parameter_count_is_the_authors_backbone():
    net = preact_resnet18()
    assert sum(p.numel() for p in net.parameters()) == 11_166_144
    # their stem has BatchNorm; their shortcuts are bare 1x1 convolutions in three blocks
    assert isinstance(net.bn1, torch.nn.BatchNorm2d)
    assert [len(block.shortcut) for layer in (net.layer1, net.layer2, net.layer3, net.layer4) for block in layer] == \
        [0, 0, 1, 0, 1, 0, 1, 0]


def test_maps_images_to_512_features_in_both_modes():
    torch.manual_seed(0)
    net = preact_resnet18()
    assert net.out_features == 512
    x = torch.randn(2, 3, 32, 32)
    out = net(x)
    assert out.shape == (2, 512) and out.dtype == torch.float32
    assert (out < 0).any()  # no final BN-ReLU: the pooled features of a pre-activation net can be negative
    net.eval()
    assert net(x).shape == (2, 512)


def test_identity_shortcuts_carry_the_pre_activated_input():
    """The authors' block adds relu(bn1(x)), not x, on an identity shortcut (an empty nn.Sequential of it)."""
    torch.manual_seed(0)
    block = preact_resnet18().layer1[0].eval()
    torch.nn.init.zeros_(block.conv2.weight)  # the residual branch adds nothing
    x = torch.randn(1, 64, 8, 8)
    torch.testing.assert_close(block(x), torch.relu(block.bn1(x)))
