"""EMA: the divisibility the official code only half-checks, groups independence, layouts."""

import pytest
import torch

from plugscaffold.modules.ema import EfficientMultiScaleAttention


@pytest.mark.parametrize("channels,groups", [(48, 32), (24, 32), (30, 4)])
def test_channels_not_divisible_by_groups_raise(channels, groups):
    # The official EMA(48, factor=32) passes its assert and, for even H*W, silently mixes
    # samples inside a group; ours refuses with the numbers.
    with pytest.raises(
        ValueError, match=rf"channels \({channels}\) must be divisible by groups \({groups}\)"
    ):
        EfficientMultiScaleAttention(channels, groups=groups)


def test_groups_and_samples_are_independent():
    # Changing one group of one sample must leave every other group and sample unchanged.
    torch.manual_seed(0)
    m = EfficientMultiScaleAttention(32, groups=4).eval()
    x = torch.randn(2, 32, 6, 5)
    y = x.clone()
    y[1, 8:16] += torch.randn(8, 6, 5)
    with torch.no_grad():
        a, b = m(x), m(y)
    changed = (a - b).abs().amax(dim=(2, 3)) > 0
    assert changed[1, 8:16].all() and changed.sum() == 8


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = EfficientMultiScaleAttention(64, groups=8).eval()
    x = torch.randn(2, 64, 9, 7)
    with torch.no_grad():
        ref = m(x)
        assert (m(x.contiguous(memory_format=torch.channels_last)) - ref).abs().max().item() <= 1e-5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()
