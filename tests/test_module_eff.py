from pathlib import Path

import pytest
import torch

from plugscaffold.modules.eff import EfficientFeatureFusion

FIXTURE = Path(__file__).parent / "fixtures" / "official" / "eff.pt"


def test_param_count_matches_official():
    # official XSforAI/SUnet EFF(in_dim=64, out_dim=64): 2*(128+64+64+64) + 67 + 5 + 98
    model = EfficientFeatureFusion(64)
    assert sum(p.numel() for p in model.parameters()) == 810


def test_param_count_inter_channels_matches_official():
    # official EFF(in_dim=64, out_dim=32), as used for the last SUnet decoder stage
    model = EfficientFeatureFusion(64, inter_channels=32)
    assert sum(p.numel() for p in model.parameters()) == 458


def test_fixture_replay():
    fixture = torch.load(FIXTURE, weights_only=True)
    model = EfficientFeatureFusion(**fixture["config"])
    model.load_state_dict(fixture["state_dict"], strict=True)
    model.eval()
    with torch.no_grad():
        out = model(fixture["input"]["x"], fixture["input"]["skip"])
    assert out.shape == fixture["output"].shape
    assert (out - fixture["output"]).abs().max().item() <= 1e-5


def test_shape_backward_finite():
    torch.manual_seed(0)
    model = EfficientFeatureFusion(32)
    x = torch.randn(2, 32, 8, 8, requires_grad=True)
    skip = torch.randn(2, 32, 8, 8, requires_grad=True)
    out = model(x, skip)
    assert out.shape == (2, 64, 8, 8)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert skip.grad is not None and torch.isfinite(skip.grad).all()
    for p in model.parameters():
        assert p.grad is not None


def test_channels_last():
    torch.manual_seed(0)
    model = EfficientFeatureFusion(64).eval()
    x = torch.randn(1, 64, 6, 10)
    skip = torch.randn(1, 64, 6, 10)
    with torch.no_grad():
        ref = model(x, skip)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(
            x.to(memory_format=torch.channels_last),
            skip.to(memory_format=torch.channels_last),
        )
    assert (out - ref).abs().max().item() <= 1e-5


@pytest.mark.parametrize("channels", [16, 48, 100])
def test_channels_not_divisible_by_32(channels):
    with pytest.raises(ValueError, match=r"divisible by groups \(32\)"):
        EfficientFeatureFusion(channels)


def test_inter_channels_not_divisible_by_32():
    with pytest.raises(ValueError, match=r"inter_channels \(40\)"):
        EfficientFeatureFusion(64, inter_channels=40)


def test_even_spatial_kernel_rejected():
    with pytest.raises(ValueError, match=r"spatial_kernel_size \(4\)"):
        EfficientFeatureFusion(32, spatial_kernel_size=4)
