from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from plugscaffold.modules.carafe import CARAFEUpsample, carafe_reassemble

FIXTURE = Path(__file__).parent / "fixtures" / "official" / "carafe.pt"


@pytest.fixture(scope="module")
def fx():
    return torch.load(FIXTURE, weights_only=True)


def _reassemble_by_definition(x, masks, k, groups, s):
    # mmcv carafe_naive_forward: out[n, c, p, q] = sum over the k x k window around (p // s, q // s),
    # inside the map, of x[n, c, iy, ix] * masks[n, (g * k + my) * k + mx, p, q], g = c // (C / groups).
    n, c, h, w = x.shape
    r = (k - 1) // 2
    out = torch.zeros(n, c, h * s, w * s, dtype=x.dtype)
    for p in range(h * s):
        for q in range(w * s):
            for iy in range(p // s - r, p // s + r + 1):
                for ix in range(q // s - r, q // s + r + 1):
                    if 0 <= iy < h and 0 <= ix < w:
                        for g in range(groups):
                            mc = (g * k + iy - p // s + r) * k + ix - q // s + r
                            cs = slice(g * c // groups, (g + 1) * c // groups)
                            out[:, cs, p, q] += x[:, cs, iy, ix] * masks[:, mc, p, q, None]
    return out


def _pre_shuffle(masks, groups, k, s):
    # mmcv's masks are pixel-shuffled (n, groups * k * k, H, W); ours keep the encoder's layout.
    n, _, hh, ww = masks.shape
    return F.pixel_unshuffle(masks, s).view(n, groups, k * k, s * s, hh // s, ww // s)


def test_reassembly_matches_mmcv_cuda_output(fx):
    # mmcv tests/data/for_carafe: CARAFE(kernel_size=5, group_size=4, scale_factor=2), CUDA kernel.
    kernels = _pre_shuffle(fx["op_masks"], 4, 5, 2)
    out = carafe_reassemble(fx["op_features"], kernels, 5, 4, 2)
    assert (out - fx["op_output"]).abs().max().item() <= 1e-5


def test_reassembly_matches_the_kernel_definition():
    torch.manual_seed(0)
    x = torch.randn(1, 6, 3, 4, dtype=torch.float64)
    masks = torch.rand(1, 3 * 9, 6, 8, dtype=torch.float64)
    expected = _reassemble_by_definition(x, masks, 3, 3, 2)
    out = carafe_reassemble(x, _pre_shuffle(masks, 3, 3, 2), 3, 3, 2)
    assert torch.allclose(out, expected, atol=1e-12)


def test_grouped_module_matches_fixture(fx):
    case = fx["grouped"]
    m = CARAFEUpsample(**{("channels" if k == "in_channels" else k): v for k, v in case["config"].items()})
    m.load_state_dict(case["state_dict"], strict=True)
    m.eval()
    with torch.no_grad():
        assert (m(*case["inputs"]) - case["output"]).abs().max().item() <= 1e-5


def test_gradients_match_double_precision_autograd_check():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    kernels = torch.randn(1, 2, 9, 4, 3, 3, dtype=torch.float64).softmax(2).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: carafe_reassemble(a, b, 3, 2, 2), (x, kernels))


def test_initialisation_follows_mmcv():
    m = CARAFEUpsample(16)
    assert m.content_encoder.weight.std().item() < 0.002
    assert not m.content_encoder.bias.any() and not m.channel_compressor.bias.any()
    bound = (6 / (16 + 64)) ** 0.5  # xavier uniform of the 1x1 compressor
    assert m.channel_compressor.weight.abs().max().item() <= bound


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = CARAFEUpsample(8, compressed_channels=8).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    x = torch.randn(2, 8, 5, 6)
    with torch.no_grad():
        ref = m(x)
        assert torch.allclose(m(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()


@pytest.mark.parametrize(
    "kwargs", [{"channels": 6, "up_group": 4}, {"channels": 8, "up_kernel": 4}, {"channels": 0}]
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        CARAFEUpsample(**kwargs)
