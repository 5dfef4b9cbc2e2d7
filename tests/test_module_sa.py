"""Shuffle Attention: per-group gates and the 2-way channel shuffle, written out."""

import pytest
import torch

from plugscaffold.modules.sa import ShuffleAttention


def test_equals_definition():
    torch.manual_seed(5)
    channels, groups = 32, 4
    model = ShuffleAttention(channels, groups=groups).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(2, channels, 9, 7)
    half = channels // (2 * groups)
    gn = model.gn
    expected = torch.empty_like(x)
    with torch.no_grad():
        pre = []
        for g in range(groups):
            xc = x[:, g * 2 * half : g * 2 * half + half]
            xs = x[:, g * 2 * half + half : (g + 1) * 2 * half]
            gate_c = torch.sigmoid(model.cweight * xc.mean(dim=(2, 3), keepdim=True) + model.cbias)
            mean = xs.mean(dim=(2, 3), keepdim=True)
            var = xs.var(dim=(2, 3), keepdim=True, unbiased=False)
            norm = (xs - mean) / torch.sqrt(var + gn.eps) * gn.weight[None, :, None, None]
            norm = norm + gn.bias[None, :, None, None]
            gate_s = torch.sigmoid(model.sweight * norm + model.sbias)
            pre += [xc * gate_c, xs * gate_s]
        pre = torch.cat(pre, dim=1)
        # channel shuffle (2 groups): output 2k <- k, output 2k + 1 <- C/2 + k
        expected[:, 0::2] = pre[:, : channels // 2]
        expected[:, 1::2] = pre[:, channels // 2 :]
        out = model(x)
    assert (out - expected).abs().max().item() <= 1e-5


def test_initial_gates_are_constant():
    # cweight = sweight = 0 and cbias = sbias = 1 at init: every gate is sigmoid(1).
    x = torch.randn(2, 128, 5, 5)
    out = ShuffleAttention(128)(x)
    shuffled = x.reshape(2, 2, 64, 5, 5).transpose(1, 2).reshape(2, 128, 5, 5)
    assert (out - shuffled * torch.sigmoid(torch.tensor(1.0))).abs().max().item() <= 1e-6


@pytest.mark.parametrize("channels,groups", [(64, 64), (96, 64), (200, 64), (12, 4)])
def test_official_crashes_become_value_errors(channels, groups):
    # The official sa_layer raises ZeroDivisionError for 64/96 channels at groups=64 and a
    # reshape error for 200; ours names the numbers.
    with pytest.raises(ValueError, match=rf"channels \({channels}\) must be divisible by 2 \* groups"):
        ShuffleAttention(channels, groups=groups)
