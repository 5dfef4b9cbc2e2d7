import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require, require_positive


class MultiHeadSpatialSelfAttention(nn.Module):
    """1x1 qkv projection -> split heads -> softmax(QK^T / sqrt(d)) V over the H*W
    positions -> merge heads -> 1x1 projection.
    """

    def __init__(self, channels: int, heads: int = 4, bias: bool = True) -> None:
        super().__init__()
        require_positive(channels=channels, heads=heads)
        # every head gets channels // heads dimensions
        require(channels % heads == 0, f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        # Same shapes as torch.nn.MultiheadAttention: qkv.weight is its in_proj_weight
        # (rows q, k, v; heads contiguous inside each), proj is its out_proj.
        self.qkv = nn.Linear(channels, 3 * channels, bias=bias)
        self.proj = nn.Linear(channels, channels, bias=bias)
        # Initialised as nn.MultiheadAttention: Xavier-uniform input projection (over the
        # whole 3C x C matrix), zero biases; the output weight keeps nn.Linear's default.
        nn.init.xavier_uniform_(self.qkv.weight)
        if bias:
            nn.init.zeros_(self.qkv.bias)
            nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = h * w
        d = c // self.heads
        # Token-major layout (B, N, C): the projections are plain matmuls, and q, k, v
        # come out with unit stride along the head dimension, which SDPA's fused CPU
        # kernel wants.
        tokens = x.flatten(2).transpose(1, 2)
        qkv = F.linear(tokens, self.qkv.weight, self.qkv.bias)
        q, k, v = qkv.reshape(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, d)
        out = out.transpose(1, 2).reshape(b, n, c)
        out = F.linear(out, self.proj.weight, self.proj.bias)
        return out.transpose(1, 2).reshape(b, c, h, w)
