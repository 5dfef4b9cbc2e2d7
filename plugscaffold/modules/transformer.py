import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require, require_positive


def sincos_position_embedding_2d(
    height: int, width: int, dim: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Fixed 2D sine-cosine embedding (H*W, dim): sin/cos of the row in the first
    half, of the column in the second.
    """
    quarter = dim // 4
    omega = torch.exp(
        torch.arange(quarter, device=device, dtype=torch.float32) * (-math.log(10000.0) / quarter)
    )
    rows = torch.arange(height, device=device, dtype=torch.float32)[:, None] * omega
    cols = torch.arange(width, device=device, dtype=torch.float32)[:, None] * omega
    rows = torch.cat([rows.sin(), rows.cos()], dim=1)[:, None, :].expand(height, width, 2 * quarter)
    cols = torch.cat([cols.sin(), cols.cos()], dim=1)[None, :, :].expand(height, width, 2 * quarter)
    return torch.cat([rows, cols], dim=2).reshape(height * width, dim).to(dtype)


class TokenMultiheadSelfAttention(nn.Module):
    """Linear (q, k, v) -> split heads -> softmax(QK^T / sqrt(d)) V -> merge heads -> Linear."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        # Same parameters as torch.nn.MultiheadAttention (rows of in_proj_weight: q, k, v).
        self.in_proj_weight = nn.Parameter(torch.empty(3 * channels, channels))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * channels))
        self.out_proj = nn.Linear(channels, channels)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, c = tokens.shape
        qkv = F.linear(tokens, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, d)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, c))


class TransformerEncoderLayer2d(nn.Module):
    """H*W tokens [+ 2D sin-cos position] -> (LayerNorm -> multi-head self-attention
    -> +) -> (LayerNorm -> Linear (4C) -> GELU -> Linear -> +).
    """

    def __init__(self, channels: int, heads: int = 8, mlp_ratio: int = 4, pos: str = "none") -> None:
        super().__init__()
        require_positive(channels=channels, heads=heads, mlp_ratio=mlp_ratio)
        # every head gets channels // heads dimensions
        require(channels % heads == 0, f"channels ({channels}) must be divisible by heads ({heads})")
        require(pos in ("none", "sincos"), f"pos ({pos!r}) must be 'none' or 'sincos'")
        # the 2D sin-cos position embedding: sin and cos of the row and of the column
        require(pos != "sincos" or channels % 4 == 0, f"channels ({channels}) must be divisible by 4")
        self.pos = pos
        # Attribute names of torch.nn.TransformerEncoderLayer, so its state_dict loads as it is.
        self.self_attn = TokenMultiheadSelfAttention(channels, heads)
        self.linear1 = nn.Linear(channels, mlp_ratio * channels)
        self.activation = nn.GELU()
        self.linear2 = nn.Linear(mlp_ratio * channels, channels)
        self.norm1 = nn.LayerNorm(channels)
        self.norm2 = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        if self.pos == "sincos":
            tokens = tokens + sincos_position_embedding_2d(h, w, c, x.device, tokens.dtype)
        tokens = tokens + self.self_attn(self.norm1(tokens))
        tokens = tokens + self.linear2(self.activation(self.linear1(self.norm2(tokens))))
        return tokens.transpose(1, 2).reshape(b, c, h, w)
