import math

import torch
import torch.nn as nn

from .common import require, require_positive


class EfficientChannelAttention(nn.Module):
    """Global avg pool -> 1D conv across channels (k adaptive from log2(C)) -> sigmoid -> x * weights."""

    def __init__(self, channels: int, kernel_size: int = 0, gamma: int = 2, b: int = 1) -> None:
        super().__init__()
        require_positive(channels=channels, gamma=gamma)
        for name, value in (("kernel_size", kernel_size), ("b", b)):
            require(type(value) is int and value >= 0, f"{name} ({value!r}) must be a non-negative integer")
        if kernel_size == 0:
            # The paper's adaptive size: k = |log2(C) / gamma + b / gamma|, rounded to odd.
            kernel_size = int(abs((math.log2(channels) + b) / gamma))
            if kernel_size % 2 == 0:
                kernel_size += 1
        # odd, so that the 1D convolution across channels keeps them all
        require(kernel_size % 2 == 1, f"kernel_size ({kernel_size}) must be odd (or 0: adaptive)")
        self.kernel_size = kernel_size
        # A single 1 -> 1 channel Conv1d sliding over the channel axis (key conv.weight).
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The pooled channels as one sequence of length C: (B, 1, C), contiguous (a transposed
        # view here makes torch.export guard the convolution on batch > 1).
        pooled = x.mean(dim=(2, 3)).unsqueeze(1)
        # back to (B, C, 1, 1)
        weights = torch.sigmoid(self.conv(pooled)).transpose(1, 2).unsqueeze(3)
        return x * weights
