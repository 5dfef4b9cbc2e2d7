"""BAM: what the catalog-wide tests do not cover (official bugs fixed, the paper's sum variant)."""

import pytest
import torch
import torch.nn.functional as F

from plugscaffold.modules.bam import BAM


def _randomized(model):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def test_state_dict_names_follow_the_official_sequentials():
    keys = set(BAM(64).state_dict())
    assert "channel_att.gate_c.gate_c_fc_0.weight" in keys
    assert "channel_att.gate_c.gate_c_bn_1.running_var" in keys
    assert "channel_att.gate_c.gate_c_fc_final.weight" in keys
    assert "spatial_att.gate_s.gate_s_conv_reduce0.weight" in keys
    assert "spatial_att.gate_s.gate_s_conv_di_1.weight" in keys
    assert "spatial_att.gate_s.gate_s_conv_final.bias" in keys
    conv = BAM(64).spatial_att.gate_s.gate_s_conv_di_0
    assert conv.dilation == (4, 4) and conv.padding == (4, 4)
    deeper = set(BAM(64, num_layers=2, dilation_conv_num=1).state_dict())
    assert (
        "channel_att.gate_c.gate_c_fc_1.weight" in deeper and "channel_att.gate_c.gate_c_bn_2.bias" in deeper
    )
    assert not any("gate_s_conv_di_1" in k for k in deeper)


@pytest.mark.parametrize("size", [(6, 10), (10, 6), (9, 13)])
def test_channel_gate_pools_the_whole_map_on_non_square_inputs(size):
    # Official ChannelGate pools an H x H window (issue #50): wrong or crashing when H != W.
    torch.manual_seed(0)
    model = _randomized(BAM(32, reduction=8))
    x = torch.randn(2, 32, *size)
    with torch.no_grad():
        expected = model.channel_att.gate_c(x.mean(dim=(2, 3)))[:, :, None, None]
        assert torch.allclose(model.channel_att(x), expected, atol=1e-6)
        assert model(x).shape == x.shape


@pytest.mark.parametrize("combine", ["product", "sum"])
def test_equals_the_definition(combine):
    # Paper Eq. 1 (sum) and the official code (product): F' = F + F * sigmoid(Mc (op) Ms)
    torch.manual_seed(0)
    model = _randomized(BAM(32, reduction=8, dilation=2, combine=combine))
    x = torch.randn(2, 32, 7, 5)
    g = model.spatial_att.gate_s
    with torch.no_grad():
        mc = model.channel_att.gate_c(F.adaptive_avg_pool2d(x, 1).flatten(1))[:, :, None, None]
        s = torch.relu(g.gate_s_bn_reduce0(g.gate_s_conv_reduce0(x)))
        for i in range(2):
            s = torch.relu(getattr(g, f"gate_s_bn_di_{i}")(getattr(g, f"gate_s_conv_di_{i}")(s)))
        ms = g.gate_s_conv_final(s)
        logits = mc * ms if combine == "product" else mc + ms
        expected = x + x * torch.sigmoid(logits)
        assert (model(x) - expected).abs().max().item() <= 1e-5


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    model = _randomized(BAM(32, reduction=8))
    x = torch.randn(2, 32, 6, 10)
    with torch.no_grad():
        ref = model(x)
        cl = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        assert (cl - ref).abs().max().item() <= 1e-5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()


def test_bad_arguments_raise_sentences():
    with pytest.raises(ValueError, match=r"channels \(8\) // reduction \(16\)"):
        BAM(8)
    with pytest.raises(ValueError, match="combine"):
        BAM(64, combine="mean")
    with pytest.raises(ValueError, match=r"dilation \(0\)"):
        BAM(64, dilation=0)
