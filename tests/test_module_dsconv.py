import pytest
import torch
import torch.nn.functional as F

from plugscaffold.modules.dsconv import DepthwiseSeparableConv


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cin,cout,k", [(64, 64, 3), (32, 64, 3), (64, 128, 5), (3, 16, 1)])
def test_param_formula(cin, cout, k):
    # depthwise k x k (cin * k * k) + pointwise 1x1 (cin * cout), no bias
    assert _n_params(DepthwiseSeparableConv(cin, cout, kernel_size=k)) == cin * k * k + cin * cout


def test_param_count_at_64():
    assert _n_params(DepthwiseSeparableConv(64, 64)) == 4672
    # bias=True adds one bias per depthwise channel and per output channel
    assert _n_params(DepthwiseSeparableConv(64, 64, bias=True)) == 4672 + 64 + 64


def test_state_dict_keys():
    sd = DepthwiseSeparableConv(8, 16).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "depthwise.weight": (8, 1, 3, 3),
        "pointwise.weight": (16, 8, 1, 1),
    }


@pytest.mark.parametrize("bias", [False, True])
def test_equals_depthwise_then_pointwise_conv2d(bias):
    torch.manual_seed(0)
    m = DepthwiseSeparableConv(6, 10, bias=bias).eval()
    x = torch.randn(2, 6, 7, 9)
    dw, pw = m.depthwise, m.pointwise
    with torch.no_grad():
        mid = F.conv2d(x, dw.weight, dw.bias, padding=1, groups=6)
        expected = F.conv2d(mid, pw.weight, pw.bias)
        out = m(x)
    assert out.shape == (2, 10, 7, 9)
    assert (out - expected).abs().max().item() <= 1e-5


def test_equals_full_conv_with_factorized_kernel():
    # A depthwise-separable conv is a full conv whose kernel is W[o, i] = P[o, i] * D[i]
    torch.manual_seed(0)
    m = DepthwiseSeparableConv(5, 7).eval()
    x = torch.randn(1, 5, 8, 8)
    d = m.depthwise.weight[:, 0]  # (in, 3, 3)
    p = m.pointwise.weight[:, :, 0, 0]  # (out, in)
    full = p[:, :, None, None] * d[None]
    with torch.no_grad():
        expected = F.conv2d(x, full, padding=1)
        out = m(x)
    assert (out - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize("k", [1, 3, 5])
def test_shape_backward_finite(k):
    torch.manual_seed(0)
    m = DepthwiseSeparableConv(8, 12, kernel_size=k)
    x = torch.randn(2, 8, 6, 10, requires_grad=True)
    y = m(x)
    assert y.shape == (2, 12, 6, 10)
    assert torch.isfinite(y).all()
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for p in m.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = DepthwiseSeparableConv(16, 32).eval()
    x = torch.randn(1, 16, 6, 10)
    with torch.no_grad():
        ref = m(x)
        cl = m.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        assert (cl - ref).abs().max().item() <= 1e-5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape
    assert torch.isfinite(low.float()).all()


def test_drop_in_for_block_conv():
    # Same call signature and output shape as the block's nn.Conv2d(in, out, 3, padding=1, bias=False)
    x = torch.randn(1, 4, 9, 11)
    ref = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
    assert DepthwiseSeparableConv(4, 8)(x).shape == ref(x).shape


@pytest.mark.parametrize("k", [2, 4, 0])
def test_bad_kernel_size(k):
    with pytest.raises(ValueError, match=rf"kernel_size \({k}\)"):
        DepthwiseSeparableConv(8, 8, kernel_size=k)


@pytest.mark.parametrize("cin,cout", [(0, 8), (8, 0), (-1, 8)])
def test_bad_channels(cin, cout):
    with pytest.raises(ValueError):
        DepthwiseSeparableConv(cin, cout)
