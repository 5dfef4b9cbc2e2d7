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
