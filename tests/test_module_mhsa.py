"""MHSA: equals softmax(QK^T/sqrt(d))V per head and nn.MultiheadAttention; no position encoding."""

import math

import pytest
import torch

from plugscaffold.modules.mhsa import MultiHeadSpatialSelfAttention


def _naive(m, x):
    b, c, h, w = x.shape
    heads, d = m.heads, c // m.heads
    t = x.flatten(2).transpose(1, 2)
    q, k, v = m.qkv(t).split(c, dim=-1)
    outs = []
    for i in range(heads):
        sl = slice(i * d, (i + 1) * d)
        a = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(d), dim=-1)
        outs.append(a @ v[..., sl])
    return m.proj(torch.cat(outs, dim=-1)).transpose(1, 2).reshape(b, c, h, w)


@pytest.mark.parametrize("heads", [1, 2, 8])
def test_equals_the_definition(heads):
    torch.manual_seed(0)
    m = MultiHeadSpatialSelfAttention(16, heads=heads).eval()
    x = torch.randn(2, 16, 5, 7)
    with torch.no_grad():
        assert (m(x) - _naive(m, x)).abs().max().item() <= 1e-5


@pytest.mark.parametrize("heads,bias", [(8, True), (2, False)])
def test_equals_nn_multiheadattention_through_the_key_map(heads, bias):
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(32, heads, bias=bias, batch_first=True).eval()
    key_map = {"in_proj_weight": "qkv.weight", "in_proj_bias": "qkv.bias"}
    state = {key_map.get(k, k.replace("out_proj.", "proj.")): v for k, v in ref.state_dict().items()}
    m = MultiHeadSpatialSelfAttention(32, heads=heads, bias=bias).eval()
    m.load_state_dict(state, strict=True)
    x = torch.randn(2, 32, 4, 9)
    t = x.flatten(2).transpose(1, 2)
    with torch.no_grad():
        expected = ref(t, t, t, need_weights=False)[0].transpose(1, 2).reshape(x.shape)
        assert (m(x) - expected).abs().max().item() <= 1e-5


def test_no_position_encoding_permuting_positions_permutes_the_output():
    torch.manual_seed(0)
    m = MultiHeadSpatialSelfAttention(16).eval()
    x = torch.randn(1, 16, 4, 6)
    perm = torch.randperm(24)
    with torch.no_grad():
        out = m(x).flatten(2)[:, :, perm]
        shuffled = m(x.flatten(2)[:, :, perm].reshape(x.shape)).flatten(2)
    assert (out - shuffled).abs().max().item() <= 1e-5


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = MultiHeadSpatialSelfAttention(32).eval()
    x = torch.randn(2, 32, 6, 5)
    with torch.no_grad():
        ref = m(x)
        cl = m(x.contiguous(memory_format=torch.channels_last))
        assert (cl - ref).abs().max().item() <= 1e-5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()
    assert (low.float() - ref).abs().max().item() < 0.1


@pytest.mark.parametrize("channels,heads", [(30, 4), (6, 4), (16, 0)])
def test_bad_heads(channels, heads):
    with pytest.raises(ValueError, match=rf"\({channels if heads else heads}\)"):
        MultiHeadSpatialSelfAttention(channels, heads=heads)


def test_initialised_as_nn_multiheadattention():
    # nn.MultiheadAttention._reset_parameters: xavier_uniform_ on in_proj_weight (3C x C, so the
    # bound is sqrt(6 / (C + 3C))), in_proj_bias and out_proj.bias zero.
    torch.manual_seed(0)
    c = 64
    m = MultiHeadSpatialSelfAttention(c, heads=4)
    bound = math.sqrt(6.0 / (c + 3 * c))
    w = m.qkv.weight.detach()
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() > 0.95 * bound  # fills the interval, not a narrower default init
    assert abs(w.std().item() - bound / math.sqrt(3)) < 0.05 * bound  # uniform(-a, a) has std a/sqrt(3)
    assert torch.count_nonzero(m.qkv.bias) == 0 and torch.count_nonzero(m.proj.bias) == 0
    ref = torch.nn.MultiheadAttention(c, 4)
    assert abs(ref.in_proj_weight.detach().std().item() - w.std().item()) < 0.05 * bound
    # nn.Linear's default would give bound 1/sqrt(C) = 0.125 with std 0.072: not this
    assert abs(w.std().item() - 1 / math.sqrt(c) / math.sqrt(3)) > 0.01
