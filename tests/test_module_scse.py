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


def test_combine_max_equals_the_authors_channel_spatial_se_layer():
    # ai-med/squeeze_and_excitation ChannelSpatialSELayer.forward:
    # torch.max(cSE(x), sSE(x)), where cSE(x) = x * sigmoid(fc2(relu(fc1(mean_hw(x))))) and
    # sSE(x) = x * sigmoid(conv1x1(x)); its Linear weights are our 1x1 conv weights.
    torch.manual_seed(1)
    m = SpatialChannelSqueezeExcite(16, reduction=2, combine="max").eval()
    x = torch.randn(2, 16, 6, 5)
    fc1_w, fc1_b = m.cSE[1].weight.reshape(8, 16), m.cSE[1].bias
    fc2_w, fc2_b = m.cSE[3].weight.reshape(16, 8), m.cSE[3].bias
    conv_w, conv_b = m.sSE[0].weight, m.sSE[0].bias
    with torch.no_grad():
        squeeze = x.view(2, 16, -1).mean(dim=2)
        fc_out = torch.sigmoid(
            torch.nn.functional.linear(
                torch.relu(torch.nn.functional.linear(squeeze, fc1_w, fc1_b)), fc2_w, fc2_b
            )
        )
        channel = torch.mul(x, fc_out.view(2, 16, 1, 1))
        spatial = torch.mul(x, torch.sigmoid(torch.nn.functional.conv2d(x, conv_w, conv_b)).view(2, 1, 6, 5))
        expected = torch.max(channel, spatial)
        out = m(x)
        added = SpatialChannelSqueezeExcite(16, reduction=2).eval()
        added.load_state_dict(m.state_dict())
    assert (out - expected).abs().max().item() <= 1e-6
    assert (added(x) - expected).abs().max().item() > 1e-2  # add (the default) differs from max


def test_combine_is_add_or_max():
    assert SpatialChannelSqueezeExcite(32).combine == "add"
    with pytest.raises(ValueError, match="combine must be 'add'"):
        SpatialChannelSqueezeExcite(32, combine="mean")
