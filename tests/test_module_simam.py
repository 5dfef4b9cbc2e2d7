"""SimAM: the paper's energy, no parameters, the 1x1-map fix (official code returns NaN)."""

import pytest
import torch

from plugscaffold.modules.simam import SimAM


def test_equals_the_paper_energy():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 7)
    lam = 1e-3
    n = 5 * 7 - 1
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mu) ** 2).sum(dim=(2, 3), keepdim=True) / n
    inverse_energy = (x - mu) ** 2 / (4 * (var + lam)) + 0.5
    expected = x * torch.sigmoid(inverse_energy)
    assert (SimAM(6, e_lambda=lam)(x) - expected).abs().max().item() <= 1e-6


def test_no_parameters():
    m = SimAM(64)
    assert sum(p.numel() for p in m.parameters()) == 0 and m.state_dict() == {}


def test_a_1x1_map_is_finite():
    # The official code divides 0 by 0 (n = H*W - 1 = 0) here; ours gives x * sigmoid(0.5).
    x = torch.randn(2, 8, 1, 1, requires_grad=True)
    out = SimAM(8)(x)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, x * torch.sigmoid(torch.tensor(0.5)))
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = SimAM(16)
    x = torch.randn(2, 16, 9, 7)
    ref = m(x)
    assert (m(x.contiguous(memory_format=torch.channels_last)) - ref).abs().max().item() <= 1e-6
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = m(x.bfloat16())
    assert torch.isfinite(low.float()).all()
    assert (low.float() - ref).abs().max().item() < 0.1


@pytest.mark.parametrize("args,pattern", [((0,), r"channels \(0\)"), ((8, 0.0), r"e_lambda \(0.0\)")])
def test_bad_arguments_raise_sentences(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        SimAM(*args)
