"""Coordinate attention: the hidden-width rule, the h-swish identity, layouts."""

import torch

from plugscaffold.modules.coordatt import CoordinateAttention


def test_hidden_width_is_max_8_and_channels_over_reduction():
    for channels, reduction, hidden in ((16, 32, 8), (64, 32, 8), (512, 32, 16), (64, 4, 16)):
        assert CoordinateAttention(channels, reduction=reduction).conv1.out_channels == hidden


def test_hardswish_is_the_official_h_swish():
    x = torch.linspace(-6, 6, 241)
    assert torch.allclose(CoordinateAttention(8).act(x), x * torch.clamp(x + 3, 0, 6) / 6)


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = CoordinateAttention(32).eval()
    with torch.no_grad():
        m.bn1.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 32, 9, 7)
    with torch.no_grad():
        ref = m(x)
        assert (m(x.contiguous(memory_format=torch.channels_last)) - ref).abs().max().item() <= 1e-5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()
