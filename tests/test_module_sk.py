"""Selective Kernel: the paper's fuse/select equations and the branch layout."""

import pytest
import torch
import torch.nn.functional as F

from plugscaffold.modules.sk import SelectiveKernelConv


def _randomize(model):
    torch.manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.uniform_(-0.5, 0.5)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)


def _bn(x, bn):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (x - bn.running_mean.reshape(shape)) * scale.reshape(shape) + bn.bias.reshape(shape)


@pytest.mark.parametrize("branches", [2, 3])
def test_equals_paper_equations(branches):
    # U_m = ReLU(BN(conv_m(X))); s = GAP(sum U_m); z = ReLU(BN(W s));
    # a_m = softmax_m(A_m z); V = sum a_m * U_m
    channels, groups = 32, 8
    model = SelectiveKernelConv(channels, branches=branches, groups=groups, reduction=2, min_channels=8)
    _randomize(model)
    model.eval()
    x = torch.randn(2, channels, 9, 7)
    with torch.no_grad():
        feats = []
        for m, path in enumerate(model.paths):
            y = F.conv2d(x, path.conv.weight, padding=m + 1, dilation=m + 1, groups=groups)
            feats.append(torch.relu(_bn(y, path.bn)))
        s = sum(feats).mean(dim=(2, 3))
        z = torch.relu(_bn(s @ model.attn.fc_reduce.weight.flatten(1).T, model.attn.bn))
        logits = (z @ model.attn.fc_select.weight.flatten(1).T).reshape(2, branches, channels)
        a = torch.softmax(logits, dim=1)
        expected = sum(a[:, m, :, None, None] * feats[m] for m in range(branches))
        out = model(x)
    assert (out - expected).abs().max().item() <= 1e-5


def test_branch_layout_and_descriptor_width():
    model = SelectiveKernelConv(64, branches=3)
    for m, path in enumerate(model.paths):
        conv = path.conv
        assert (
            conv.kernel_size == (3, 3) and conv.dilation == (m + 1, m + 1) and conv.padding == (m + 1, m + 1)
        )
        assert conv.groups == 32 and conv.bias is None
    assert model.attn.fc_reduce.out_channels == 32  # max(64 // 16, 32)
    assert SelectiveKernelConv(1024).attn.fc_reduce.out_channels == 64  # max(1024 // 16, 32)
    assert model.attn.fc_select.out_channels == 3 * 64


@pytest.mark.parametrize("channels,groups", [(48, 32), (16, 32)])
def test_channels_not_divisible_by_groups(channels, groups):
    with pytest.raises(
        ValueError, match=rf"channels \({channels}\) must be divisible by groups \({groups}\)"
    ):
        SelectiveKernelConv(channels, groups=groups)


def test_one_branch_is_refused():
    with pytest.raises(ValueError, match=r"branches \(1\)"):
        SelectiveKernelConv(64, branches=1)
