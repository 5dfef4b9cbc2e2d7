"""LSK: the concatenation-free mean/max equals the official formulation; layouts and dtypes."""

import pytest
import torch

from plugscaffold.modules.lsk import LargeSelectiveKernel


def _official_formulation(m, x):
    # LSKblock.forward as published: cat both reduced branches, then channel mean and max.
    a1 = m.conv0(x)
    a2 = m.conv_spatial(a1)
    a1, a2 = m.conv1(a1), m.conv2(a2)
    attn = torch.cat([a1, a2], dim=1)
    agg = torch.cat([attn.mean(dim=1, keepdim=True), attn.max(dim=1, keepdim=True).values], dim=1)
    sig = torch.sigmoid(m.conv_squeeze(agg))
    return x * m.conv(a1 * sig[:, 0].unsqueeze(1) + a2 * sig[:, 1].unsqueeze(1))


@pytest.mark.parametrize("channels", [2, 7, 32])
def test_equals_the_official_formulation(channels):
    torch.manual_seed(0)
    m = LargeSelectiveKernel(channels).eval()
    x = torch.randn(2, channels, 11, 6)
    with torch.no_grad():
        assert (m(x) - _official_formulation(m, x)).abs().max().item() <= 1e-5


def test_kernels_match_the_official_block():
    m = LargeSelectiveKernel(64)
    assert m.conv0.kernel_size == (5, 5) and m.conv0.groups == 64
    assert m.conv_spatial.kernel_size == (7, 7) and m.conv_spatial.dilation == (3, 3)
    assert m.conv_spatial.padding == (9, 9) and m.conv_spatial.groups == 64
    assert m.conv1.out_channels == m.conv2.out_channels == 32
    assert m.conv_squeeze.in_channels == m.conv_squeeze.out_channels == 2


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = LargeSelectiveKernel(16).eval()
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        ref = m(x)
        cl = m.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        assert (cl - ref).abs().max().item() <= 1e-5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()


@pytest.mark.parametrize("channels", [1, 0, -2])
def test_too_few_channels(channels):
    with pytest.raises(ValueError, match=rf"channels \({channels}\)"):
        LargeSelectiveKernel(channels)
