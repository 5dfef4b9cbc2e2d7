import math

import torch
import torch.nn as nn


class EfficientChannelAttention(nn.Module):
    """Global avg pool -> 1D conv across channels (k adaptive from log2(C)) -> sigmoid -> x * weights."""

    def __init__(self, channels: int, kernel_size: int = 0, gamma: int = 2, b: int = 1) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("gamma", gamma)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be a positive integer.")
        for name, value in (("kernel_size", kernel_size), ("b", b)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} ({value!r}) must be a non-negative integer.")
        if kernel_size == 0:
            # The paper's adaptive size: k = |log2(C) / gamma + b / gamma|, rounded to odd.
            kernel_size = int(abs((math.log2(channels) + b) / gamma))
            if kernel_size % 2 == 0:
                kernel_size += 1
        elif kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size ({kernel_size}) must be odd so that the 1D convolution across "
                f"channels keeps all {channels} channels (0 picks it from the channels)."
            )
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
