"""scSE: the paper's sum of the cSE- and sSE-recalibrated maps; refused widths."""

import pytest
import torch

from plugscaffold.modules.scse import SpatialChannelSqueezeExcite


def test_equals_sum_of_cse_and_sse():
    torch.manual_seed(0)
    m = SpatialChannelSqueezeExcite(32, reduction=8).eval()
    x = torch.randn(2, 32, 9, 7)
    w1, b1 = m.cSE[1].weight[:, :, 0, 0], m.cSE[1].bias
    w2, b2 = m.cSE[3].weight[:, :, 0, 0], m.cSE[3].bias
    ws, bs = m.sSE[0].weight[0, :, 0, 0], m.sSE[0].bias
    with torch.no_grad():
        c = torch.sigmoid(torch.relu(x.mean(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)[:, :, None, None]
        s = torch.sigmoid(torch.einsum("bchw,c->bhw", x, ws) + bs)[:, None]
        assert (m(x) - (x * c + x * s)).abs().max().item() <= 1e-5


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = SpatialChannelSqueezeExcite(64).eval()
    x = torch.randn(2, 64, 9, 7)
    with torch.no_grad():
        ref = m(x)
        assert (m(x.contiguous(memory_format=torch.channels_last)) - ref).abs().max().item() <= 1e-5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()


@pytest.mark.parametrize("channels,reduction", [(8, 16), (15, 16), (3, 4)])
def test_too_few_channels_for_reduction(channels, reduction):
    with pytest.raises(ValueError, match=rf"channels \({channels}\) // reduction \({reduction}\)"):
        SpatialChannelSqueezeExcite(channels, reduction=reduction)
