import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of every pixel of an NCHW tensor (ConvNeXt's channels_first)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def group_norm(num_groups: int, channels: int) -> nn.GroupNorm:
    """GroupNorm with num_groups groups, or gcd(num_groups, channels) where they do not divide."""
    return nn.GroupNorm(math.gcd(num_groups, channels), channels)
