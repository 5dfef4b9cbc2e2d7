"""ECA: the paper's adaptive kernel size, the fixed-kernel usage, the definition, layouts."""

import pytest
import torch
import torch.nn.functional as F

from plugscaffold.modules.eca import EfficientChannelAttention


@pytest.mark.parametrize(
    "channels,k",
    [(1, 1), (8, 3), (16, 3), (32, 3), (64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)],
)
def test_adaptive_kernel_size_follows_the_paper(channels, k):
    # k = |(log2 C + b) / gamma|_odd with gamma = 2, b = 1
    m = EfficientChannelAttention(channels)
    assert m.kernel_size == k and m.conv.weight.shape == (1, 1, k)


def test_fixed_kernel_and_gamma_b():
    assert EfficientChannelAttention(512, kernel_size=3).conv.weight.shape == (1, 1, 3)
    assert EfficientChannelAttention(64, gamma=1, b=0).kernel_size == 7  # log2(64) = 6 -> 7


def test_equals_the_definition():
    torch.manual_seed(0)
    m = EfficientChannelAttention(40, kernel_size=5).eval()
    x = torch.randn(2, 40, 6, 5)
    with torch.no_grad():
        z = F.conv1d(x.mean(dim=(2, 3))[:, None, :], m.conv.weight, padding=2)[:, 0]
        expected = x * torch.sigmoid(z)[:, :, None, None]
        assert (m(x) - expected).abs().max().item() <= 1e-6


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = EfficientChannelAttention(64).eval()
    x = torch.randn(2, 64, 7, 9)
    with torch.no_grad():
        ref = m(x)
        assert (m(x.contiguous(memory_format=torch.channels_last)) - ref).abs().max().item() <= 1e-6
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()


@pytest.mark.parametrize(
    "args,pattern",
    [
        ((64, 4), r"kernel_size \(4\) must be odd"),
        ((0,), r"channels \(0\)"),
        ((64, -1), r"kernel_size \(-1\)"),
        ((64, 0, 0), r"gamma \(0\)"),
    ],
)
def test_bad_arguments_raise_sentences(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        EfficientChannelAttention(*args)
