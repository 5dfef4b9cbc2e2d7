"""TransformerEncoderLayer2d: equal to torch's pre-norm TransformerEncoderLayer, with and
without sin-cos positions."""

import math

import torch
import torch.nn as nn

from plugscaffold.modules.transformer import TransformerEncoderLayer2d, sincos_position_embedding_2d


def reference(channels: int, heads: int) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(
        channels, heads, 4 * channels, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )


def test_training_mode_and_sincos_match_torch_on_the_tokens():
    torch.manual_seed(0)
    ref = reference(32, 8)
    for pos in ("none", "sincos"):
        ours = TransformerEncoderLayer2d(32, heads=8, pos=pos)
        ours.load_state_dict(ref.state_dict(), strict=True)  # same names and shapes, no key map
        for h, w in ((5, 7), (12, 3)):
            x = torch.randn(2, 32, h, w)
            tokens = x.flatten(2).transpose(1, 2)
            if pos == "sincos":
                tokens = tokens + sincos_position_embedding_2d(h, w, 32, x.device, x.dtype)
            expected = ref(tokens).transpose(1, 2).reshape(2, 32, h, w)
            assert (ours(x) - expected).abs().max().item() <= 1e-5


def test_sincos_embedding_follows_its_formula():
    h, w, c = 4, 6, 16
    emb = sincos_position_embedding_2d(h, w, c, torch.device("cpu"), torch.float32).view(h, w, c)
    q = c // 4
    for r, col in ((0, 0), (3, 5), (2, 1)):
        for i in range(q):
            omega = 10000.0 ** (-i / q)
            expected = [
                math.sin(r * omega), math.cos(r * omega), math.sin(col * omega), math.cos(col * omega)
            ]  # fmt: skip
            got = [emb[r, col, i], emb[r, col, q + i], emb[r, col, 2 * q + i], emb[r, col, 3 * q + i]]
            assert max(abs(a - b.item()) for a, b in zip(expected, got)) <= 1e-5
