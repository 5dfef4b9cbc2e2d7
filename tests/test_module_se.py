from pathlib import Path

import pytest
import torch

from plugscaffold.modules.se import SqueezeExcite

FIXTURE = Path(__file__).parent / "fixtures" / "official" / "se.pt"


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_param_count_matches_reference():
    # moskomule/senet.pytorch SELayer(64, 16): 64*4 + 4*64, no biases
    assert _n_params(SqueezeExcite(64)) == 512
    # SELayer(64, 8)
    assert _n_params(SqueezeExcite(64, reduction=8)) == 1024


def test_param_count_with_bias_matches_caffe_layout():
    # hujie-frank/SENet prototxts: 1x1 convs with bias_term left at its default (true)
    assert _n_params(SqueezeExcite(64, bias=True)) == 512 + 4 + 64


def test_state_dict_keys_match_reference():
    sd = SqueezeExcite(64).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "fc.0.weight": (4, 64),
        "fc.2.weight": (64, 4),
    }


def test_fixture_replay():
    fixture = torch.load(FIXTURE, weights_only=True)
    model = SqueezeExcite(**fixture["config"])
    model.load_state_dict(fixture["state_dict"], strict=True)
    model.eval()
    with torch.no_grad():
        out = model(fixture["input"])
    assert out.shape == fixture["output"].shape
    assert (out - fixture["output"]).abs().max().item() <= 1e-5


def test_equals_definition():
    torch.manual_seed(0)
    model = SqueezeExcite(16, reduction=4, bias=True).eval()
    x = torch.randn(2, 16, 5, 7)
    w1, b1 = model.fc[0].weight, model.fc[0].bias
    w2, b2 = model.fc[2].weight, model.fc[2].bias
    with torch.no_grad():
        z = x.mean(dim=(2, 3))
        s = torch.sigmoid(torch.relu(z @ w1.T + b1) @ w2.T + b2)
        expected = x * s[:, :, None, None]
        out = model(x)
    assert (out - expected).abs().max().item() <= 1e-6


def test_shape_backward_finite():
    torch.manual_seed(0)
    model = SqueezeExcite(32, reduction=8)
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
    model = SqueezeExcite(32, reduction=8).eval()
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
        SqueezeExcite(channels, reduction=reduction)


@pytest.mark.parametrize("channels,reduction", [(0, 16), (64, 0), (-4, 2), (64, True)])
def test_bad_integers(channels, reduction):
    with pytest.raises(ValueError):
        SqueezeExcite(channels, reduction=reduction)
