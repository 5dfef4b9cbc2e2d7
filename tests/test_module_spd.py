from pathlib import Path

import torch

from plugscaffold.modules.spd import SpaceToDepthConv

FIXTURE = Path(__file__).parent / "fixtures" / "official" / "spd.pt"


def _identity_head(m):
    # 1x1 conv = identity over the 4C space-to-depth channels, BN = identity in eval mode.
    with torch.no_grad():
        m.conv.weight.copy_(torch.eye(m.conv.out_channels).view_as(m.conv.weight))
        m.bn.running_mean.zero_()
        m.bn.running_var.fill_(1.0 - m.bn.eps)
    return m.eval()


def test_slice_order_is_the_official_one():
    # Official space_to_depth: cat of x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2],
    # x[..., 1::2, 1::2] on dim 1.
    torch.manual_seed(0)
    m = _identity_head(SpaceToDepthConv(3, 12, kernel_size=1))
    x = torch.randn(2, 3, 6, 8)
    slices = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)
    with torch.no_grad():
        assert torch.allclose(m(x), torch.nn.functional.silu(slices), atol=1e-6)


def test_state_dict_is_the_official_conv_state_dict():
    fx = torch.load(FIXTURE, weights_only=True)
    assert set(SpaceToDepthConv(**fx["config"]).state_dict()) == set(fx["state_dict"])


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = SpaceToDepthConv(4, 8).eval()
    x = torch.randn(2, 4, 8, 6)
    with torch.no_grad():
        ref = m(x)
        assert torch.allclose(m(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()
