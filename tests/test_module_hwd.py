from pathlib import Path

import pytest
import torch

from plugscaffold.modules.hwd import HaarWaveletDownsample

FIXTURE = Path(__file__).parent / "fixtures" / "official" / "hwd.pt"


def _haar_subbands_by_definition(x):
    # One level of the orthonormal Haar DWT (filters +-1/sqrt(2) along each
    # axis), written block by block. For a 2x2 block [[a, b], [c, d]]:
    #   LL = (a + b + c + d) / 2   low-pass over rows and columns
    #   B0 = (a + b - c - d) / 2   high-pass over rows (pytorch_wavelets yh[0][:, :, 0])
    #   B1 = (a - b + c - d) / 2   high-pass over columns (yh[0][:, :, 1])
    #   B2 = (a - b - c + d) / 2   high-pass over both (yh[0][:, :, 2])
    # The official module concatenates band-major: [LL, B0, B1, B2] on dim 1.
    n, ch, h, w = x.shape
    bands = torch.zeros(4, n, ch, h // 2, w // 2, dtype=torch.float64)
    for i in range(h // 2):
        for j in range(w // 2):
            a = x[:, :, 2 * i, 2 * j].double()
            b = x[:, :, 2 * i, 2 * j + 1].double()
            c = x[:, :, 2 * i + 1, 2 * j].double()
            d = x[:, :, 2 * i + 1, 2 * j + 1].double()
            bands[0, :, :, i, j] = (a + b + c + d) / 2
            bands[1, :, :, i, j] = (a + b - c - d) / 2
            bands[2, :, :, i, j] = (a - b + c - d) / 2
            bands[3, :, :, i, j] = (a - b - c + d) / 2
    return torch.cat(list(bands), dim=1)


def _randomize_bn(m):
    bn = m.conv_bn_relu[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)


def test_subband_definition_matches_official_probe():
    # Values printed by pytorch_wavelets 1.3.0 DWTForward(J=1, wave="haar",
    # mode="zero") for the 2x2 input [[1, 2], [3, 5]]: yl, then yh[0][0, 0, k].
    x = torch.tensor([[1.0, 2.0], [3.0, 5.0]]).view(1, 1, 2, 2)
    bands = _haar_subbands_by_definition(x).flatten()
    expected = torch.tensor([5.5, -2.5, -1.5, 0.5], dtype=torch.float64)
    assert torch.allclose(bands, expected)


def test_equals_haar_dwt_plus_conv_bn_relu_from_definition():
    torch.manual_seed(0)
    m = HaarWaveletDownsample(3, 6)
    _randomize_bn(m)
    m.eval()
    x = torch.randn(2, 3, 6, 10)
    subbands = _haar_subbands_by_definition(x).float()
    with torch.no_grad():
        expected = m.conv_bn_relu(subbands)
        out = m(x)
    assert out.shape == (2, 6, 3, 5)
    assert (out - expected).abs().max().item() <= 1e-5


def test_matches_official_fixture():
    fx = torch.load(FIXTURE)
    m = HaarWaveletDownsample(**fx["config"])
    m.load_state_dict(fx["state_dict"], strict=True)
    m.eval()
    with torch.no_grad():
        out = m(fx["input"])
        out_odd = m(fx["input_odd"])
    assert out.shape == fx["output"].shape
    assert (out - fx["output"]).abs().max().item() <= 1e-5
    # Odd H and W: the official zero mode pads one zero row/column at the
    # bottom/right, giving ceil(H / 2) x ceil(W / 2).
    assert out_odd.shape == fx["output_odd"].shape == (1, 5, 4, 5)
    assert (out_odd - fx["output_odd"]).abs().max().item() <= 1e-5


def test_state_dict_keys_match_official():
    keys = set(HaarWaveletDownsample(64, 64).state_dict())
    assert keys == {
        "wt.h0_col",
        "wt.h1_col",
        "wt.h0_row",
        "wt.h1_row",
        "conv_bn_relu.0.weight",
        "conv_bn_relu.0.bias",
        "conv_bn_relu.1.weight",
        "conv_bn_relu.1.bias",
        "conv_bn_relu.1.running_mean",
        "conv_bn_relu.1.running_var",
        "conv_bn_relu.1.num_batches_tracked",
    }


def test_parameter_count_matches_official():
    # Official Down_wt(64, 64): 256*64 + 64 (conv) + 2*64 (BN) = 16576.
    m = HaarWaveletDownsample(64, 64)
    assert sum(p.numel() for p in m.parameters()) == 16576


def test_shape_backward_finite():
    torch.manual_seed(0)
    m = HaarWaveletDownsample(8, 16)
    x = torch.randn(2, 8, 16, 12, requires_grad=True)
    y = m(x)
    assert y.shape == (2, 16, 8, 6)
    assert torch.isfinite(y).all()
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert m.conv_bn_relu[0].weight.grad is not None
    assert torch.isfinite(m.conv_bn_relu[0].weight.grad).all()


def test_odd_size_zero_pads_bottom_right():
    torch.manual_seed(0)
    m = HaarWaveletDownsample(3, 4).eval()
    x = torch.randn(1, 3, 7, 5)
    padded = torch.nn.functional.pad(x, (0, 1, 0, 1))
    with torch.no_grad():
        y = m(x)
        assert y.shape == (1, 4, 4, 3)
        assert torch.allclose(y, m(padded), atol=1e-6)


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = HaarWaveletDownsample(4, 8).eval()
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        ref = m(x)
        cl = m(x.contiguous(memory_format=torch.channels_last))
        assert torch.allclose(cl, ref, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape
    assert torch.isfinite(low.float()).all()


@pytest.mark.parametrize("cin,cout", [(0, 4), (4, 0), (-1, 4)])
def test_bad_channels_raise(cin, cout):
    with pytest.raises(ValueError):
        HaarWaveletDownsample(cin, cout)
