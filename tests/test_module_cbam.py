from pathlib import Path

import pytest
import torch

from plugscaffold.modules.cbam import CBAM

FIXTURE = Path(__file__).parent / "fixtures" / "official" / "cbam.pt"


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


def _randomize_bn(model):
    bn = model.SpatialGate.spatial.bn
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)


def test_param_count_matches_official():
    # Jongchan/attention-module CBAM(64, 16): MLP (64*4 + 4) + (4*64 + 64) = 580,
    # spatial conv 2*7*7 = 98 (no bias), BN affine 2
    assert _n_params(CBAM(64)) == 680
    # official CBAM(64, 8)
    assert _n_params(CBAM(64, reduction=8)) == 1196


def test_state_dict_keys_match_official():
    sd = CBAM(64).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "ChannelGate.mlp.1.weight": (4, 64),
        "ChannelGate.mlp.1.bias": (4,),
        "ChannelGate.mlp.3.weight": (64, 4),
        "ChannelGate.mlp.3.bias": (64,),
        "SpatialGate.spatial.conv.weight": (1, 2, 7, 7),
        "SpatialGate.spatial.bn.weight": (1,),
        "SpatialGate.spatial.bn.bias": (1,),
        "SpatialGate.spatial.bn.running_mean": (1,),
        "SpatialGate.spatial.bn.running_var": (1,),
        "SpatialGate.spatial.bn.num_batches_tracked": (),
    }


def test_bn_hyperparameters_match_official():
    bn = CBAM(64).SpatialGate.spatial.bn
    assert bn.eps == 1e-5 and bn.momentum == 0.01 and bn.affine


def test_fixture_replay():
    fixture = torch.load(FIXTURE, weights_only=True)
    model = CBAM(**fixture["config"])
    model.load_state_dict(fixture["state_dict"], strict=True)
    model.eval()
    with torch.no_grad():
        out = model(fixture["input"])
    assert out.shape == fixture["output"].shape
    assert (out - fixture["output"]).abs().max().item() <= 1e-5


def test_equals_definition():
    # Paper: M_c = sigmoid(MLP(avgpool F) + MLP(maxpool F)), F' = M_c * F,
    # M_s = sigmoid(BN(conv7x7([maxpool_c F'; avgpool_c F']))), F'' = M_s * F'
    torch.manual_seed(0)
    model = CBAM(16, reduction=4, spatial_kernel=3)
    _randomize_bn(model)
    model.eval()
    x = torch.randn(2, 16, 5, 7)
    mlp = model.ChannelGate.mlp
    conv = model.SpatialGate.spatial.conv
    bn = model.SpatialGate.spatial.bn
    with torch.no_grad():
        mc = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))
        f1 = x * mc[:, :, None, None]
        pooled = torch.cat([f1.max(dim=1, keepdim=True).values, f1.mean(dim=1, keepdim=True)], dim=1)
        z = torch.nn.functional.conv2d(pooled, conv.weight, padding=1)
        z = (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
        expected = f1 * torch.sigmoid(z)
        out = model(x)
    assert (out - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_shape_backward_finite(kernel):
    torch.manual_seed(0)
    model = CBAM(32, reduction=8, spatial_kernel=kernel)
    x = torch.randn(2, 32, 6, 10, requires_grad=True)
    out = model(x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    model = CBAM(32, reduction=8)
    _randomize_bn(model)
    model.eval()
    x = torch.randn(1, 32, 6, 10)
    with torch.no_grad():
        ref = model(x)
        cl = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        assert (cl - ref).abs().max().item() <= 1e-5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert low.shape == ref.shape
    assert torch.isfinite(low.float()).all()


@pytest.mark.parametrize("channels,reduction", [(8, 16), (15, 16), (3, 4)])
def test_too_few_channels_for_reduction(channels, reduction):
    with pytest.raises(ValueError, match=rf"channels \({channels}\) // reduction \({reduction}\)"):
        CBAM(channels, reduction=reduction)


@pytest.mark.parametrize("kernel", [0, 2, 4, -3])
def test_bad_spatial_kernel(kernel):
    with pytest.raises(ValueError, match=rf"spatial_kernel \({kernel}\)"):
        CBAM(32, spatial_kernel=kernel)


@pytest.mark.parametrize("channels,reduction", [(0, 16), (64, 0), (-4, 2)])
def test_bad_integers(channels, reduction):
    with pytest.raises(ValueError):
        CBAM(channels, reduction=reduction)
