"""Triplet attention: equals the paper's rotate-gate-rotate-back average; old checkpoint names."""

import pytest
import torch
import torch.nn.functional as F

from plugscaffold.modules.triplet import TripletAttention


def _randomized(m):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for gate in (m.cw, m.hc, m.hw):
            bn = gate.conv.bn
            bn.weight.copy_(torch.rand(1, generator=g) + 0.5)
            bn.bias.copy_(torch.rand(1, generator=g) - 0.5)
            bn.running_mean.copy_(torch.randn(1, generator=g) * 0.3)
            bn.running_var.copy_(torch.rand(1, generator=g) + 0.5)
    return m.eval()


def _gate(gate, v):
    # Rotated tensor v -> [max, mean] over dim 1 -> conv -> BN (eval) -> sigmoid -> v * weights.
    pooled = torch.cat([v.amax(dim=1, keepdim=True), v.mean(dim=1, keepdim=True)], dim=1)
    bn = gate.conv.bn
    z = F.conv2d(pooled, gate.conv.conv.weight, padding=gate.conv.conv.padding)
    z = F.batch_norm(z, bn.running_mean, bn.running_var, bn.weight, bn.bias, eps=bn.eps)
    return v * torch.sigmoid(z)


def test_equals_the_rotated_branches():
    torch.manual_seed(0)
    m = _randomized(TripletAttention(6, kernel_size=5))
    x = torch.randn(2, 6, 9, 7)
    with torch.no_grad():
        cw = _gate(m.cw, x.permute(0, 2, 1, 3).contiguous()).permute(0, 2, 1, 3)
        hc = _gate(m.hc, x.permute(0, 3, 2, 1).contiguous()).permute(0, 3, 2, 1)
        hw = _gate(m.hw, x)
        assert (m(x) - (cw + hc + hw) / 3).abs().max().item() <= 1e-6


def test_old_checkpoint_names_load_with_the_key_map():
    # MODELS/triplet_attention.py (used by the released ImageNet checkpoints) names the gates
    # ChannelGateH / ChannelGateW / SpatialGate and their BasicConv "spatial".
    parts = (
        "conv.weight",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    )
    old_keys = [
        f"{gate}.spatial.{p}" for gate in ("ChannelGateH", "ChannelGateW", "SpatialGate") for p in parts
    ]
    rename = {"ChannelGateH": "cw", "ChannelGateW": "hc", "SpatialGate": "hw"}

    def mapped(key):
        gate, _, rest = key.split(".", 2)
        return f"{rename[gate]}.conv.{rest}"

    ours = TripletAttention(16).state_dict()
    assert sorted(mapped(k) for k in old_keys) == sorted(ours)
    TripletAttention(16).load_state_dict({mapped(k): ours[mapped(k)] for k in old_keys}, strict=True)


def test_parameters_do_not_depend_on_channels():
    for c in (8, 64, 256):
        assert sum(p.numel() for p in TripletAttention(c).parameters()) == 300
    assert sum(p.numel() for p in TripletAttention(64, kernel_size=3).parameters()) == 3 * (18 + 2)


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = _randomized(TripletAttention(16))
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        ref = m(x)
        assert (m(x.contiguous(memory_format=torch.channels_last)) - ref).abs().max().item() <= 1e-6
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()


@pytest.mark.parametrize("args,pattern", [((8, 4), r"kernel_size \(4\)"), ((0,), r"channels \(0\)")])
def test_bad_arguments_raise_sentences(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        TripletAttention(*args)
