"""SpatialTransformer against the paper's equations (there is no official implementation)."""

import pytest
import torch

from plugscaffold.modules.stn import SpatialTransformer


def with_theta(module: SpatialTransformer, theta: list[float]) -> SpatialTransformer:
    """Make the localisation net output ``theta`` for every input (zero weights, bias = theta)."""
    with torch.no_grad():
        module.fc_loc[2].weight.zero_()
        module.fc_loc[2].bias.copy_(torch.tensor(theta))
    return module.eval()


def bilinear_eq5(u: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Eq. 5 of Jaderberg et al.: V_i = sum_nm U_nm max(0, 1 - |x_i^s - m|) max(0, 1 - |y_i^s - n|).

    Target pixel centres in normalised coordinates (align_corners=False), mapped by theta (eq. 1),
    then back to pixel coordinates; pixels outside the input contribute zero.
    """
    c, h, w = u.shape
    ys = (2 * torch.arange(h, dtype=torch.float64) + 1) / h - 1
    xs = (2 * torch.arange(w, dtype=torch.float64) + 1) / w - 1
    yt, xt = torch.meshgrid(ys, xs, indexing="ij")
    target = torch.stack([xt, yt, torch.ones_like(xt)], dim=-1)  # (H, W, 3)
    source = target @ theta.double().T  # (H, W, 2): x_s, y_s
    m = ((source[..., 0] + 1) * w - 1) / 2
    n = ((source[..., 1] + 1) * h - 1) / 2
    kx = (1 - (m[..., None] - torch.arange(w, dtype=torch.float64)).abs()).clamp(min=0)  # (H, W, w)
    ky = (1 - (n[..., None] - torch.arange(h, dtype=torch.float64)).abs()).clamp(min=0)  # (H, W, h)
    return torch.einsum("hwn,hwm,cnm->chw", ky, kx, u.double()).float()


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (9, 7), (40, 33)])
def test_starts_as_the_identity_at_any_size(size):
    torch.manual_seed(0)
    module = SpatialTransformer(3).eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        out = module(x)
    assert out.shape == x.shape
    assert (out - x).abs().max().item() <= 1e-5


def test_flips_and_integer_shifts_are_exact():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 10)
    with torch.no_grad():
        flipped = with_theta(SpatialTransformer(3), [-1.0, 0.0, 0.0, 0.0, 1.0, 0.0])(x)
        shifted = with_theta(SpatialTransformer(3), [1.0, 0.0, 2.0 / 10, 0.0, 1.0, 0.0])(x)
    torch.testing.assert_close(flipped, x.flip(-1), atol=1e-5, rtol=0)
    # x_s = x_t + one pixel: output column j reads input column j + 1; the last reads zeros.
    torch.testing.assert_close(shifted[..., :-1], x[..., 1:], atol=1e-5, rtol=0)
    assert shifted[..., -1].abs().max().item() <= 1e-6


def test_bilinear_sampling_matches_equation_5():
    torch.manual_seed(0)
    angle = torch.tensor(0.3)
    theta = [
        0.9 * angle.cos().item(),
        -0.9 * angle.sin().item(),
        0.1,
        0.8 * angle.sin().item(),
        0.8 * angle.cos().item(),
        -0.2,
    ]
    x = torch.randn(2, 3, 9, 7)
    with torch.no_grad():
        out = with_theta(SpatialTransformer(3), theta)(x)
    expected = torch.stack([bilinear_eq5(x[i], torch.tensor(theta).view(2, 3)) for i in range(2)])
    assert (out - expected).abs().max().item() <= 1e-5


def test_gradients_reach_the_localisation_net_and_dtype_is_kept():
    torch.manual_seed(0)
    module = SpatialTransformer(3)
    x = torch.randn(2, 3, 17, 12, requires_grad=True)
    module(x * 1.0).square().mean().backward()
    assert module.fc_loc[2].weight.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = module.eval()(x.detach())
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
