from pathlib import Path

import pytest
import torch

from plugscaffold.modules.se import SqueezeExcite

FIXTURE = Path(__file__).parent / "fixtures" / "official" / "se.pt"


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_param_count_matches_reference():
    # moskomule/senet.pytorch SELayer(64, 16): 64*4 + 4*64, no biases
    assert _n_params(SqueezeExcite(64, bias=False)) == 512
    # SELayer(64, 8)
    assert _n_params(SqueezeExcite(64, reduction=8, bias=False)) == 1024


def test_default_has_biases_as_the_caffe_models_and_the_tutorial():
    # hujie-frank/SENet prototxts: InnerProduct layers with bias_term left at its default (true);
    # seed 000's SE uses nn.Linear with its default bias: 64*4 + 4 + 4*64 + 64 = 580
    assert _n_params(SqueezeExcite(64)) == 580 == _n_params(SqueezeExcite(64, bias=True))


def test_state_dict_keys_match_reference():
    sd = SqueezeExcite(64, bias=False).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "fc.0.weight": (4, 64),
        "fc.2.weight": (64, 4),
    }
    assert set(SqueezeExcite(64).state_dict()) == {"fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"}


def test_fixture_replay():
    # captured from moskomule/senet.pytorch's bias-free SELayer: replayed with bias=False
    fixture = torch.load(FIXTURE, weights_only=True)
    model = SqueezeExcite(**fixture["config"], bias=False)
    model.load_state_dict(fixture["state_dict"], strict=True)
    model.eval()
    with torch.no_grad():
        out = model(fixture["input"])
    assert out.shape == fixture["output"].shape
    assert (out - fixture["output"]).abs().max().item() <= 1e-5


def test_default_equals_the_caffe_formulation_with_biases():
    # The authors' SE unit (SE-ResNet prototxt): global average pool -> InnerProduct (C -> C/r,
    # bias) -> ReLU -> InnerProduct (C/r -> C, bias) -> Sigmoid -> channel-wise Scale; written
    # here with plain tensor ops on the default module's weights.
    torch.manual_seed(0)
    model = SqueezeExcite(16, reduction=4).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(2, 16, 5, 7)
    w1, b1, w2, b2 = (model.state_dict()[k] for k in ("fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"))
    with torch.no_grad():
        pooled = x.sum(dim=(2, 3)) / (5 * 7)
        hidden = torch.clamp(pooled @ w1.T + b1, min=0)
        scale = 1 / (1 + torch.exp(-(hidden @ w2.T + b2)))
        expected = x * scale[:, :, None, None]
        out = model(x)
    assert b1.abs().sum() > 0 and b2.abs().sum() > 0
    assert (out - expected).abs().max().item() <= 1e-5


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
