import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require


class BlurPool2d(nn.Module):
    """Pad (reflect) -> depthwise binomial blur (filt_size x filt_size) with stride."""

    def __init__(
        self,
        channels: int,
        filt_size: int = 4,
        stride: int = 2,
        pad_type: str = "reflect",
        pad_off: int = 0,
    ) -> None:
        super().__init__()
        require(channels >= 1, f"channels ({channels}) must be a positive integer")
        require(1 <= filt_size <= 7, f"filt_size ({filt_size}) must be between 1 and 7")
        require(stride >= 1, f"stride ({stride}) must be a positive integer")
        modes = {"reflect": "reflect", "replicate": "replicate", "zero": "constant"}
        require(pad_type in modes, f"pad_type ({pad_type!r}) must be 'reflect', 'replicate' or 'zero'")
        self.channels = channels
        self.filt_size = filt_size
        self.stride = stride
        self.pad_off = pad_off
        self.pad_mode = modes[pad_type]
        before = (filt_size - 1) // 2 + pad_off
        after = filt_size // 2 + pad_off
        self.pad_sizes = (before, after, before, after)
        # Normalised outer product of the binomial row (1, 3, 3, 1 for size 4),
        # one copy per channel as the weight of a depthwise convolution.
        row = torch.tensor([math.comb(filt_size - 1, k) for k in range(filt_size)], dtype=torch.float32)
        filt = row[:, None] * row[None, :]
        filt = filt / filt.sum()
        self.register_buffer("filt", filt[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad_sizes):
            x = F.pad(x, self.pad_sizes, mode=self.pad_mode)
        if self.filt_size == 1:
            return x[:, :, :: self.stride, :: self.stride]
        return F.conv2d(x, self.filt.to(x.dtype), stride=self.stride, groups=x.shape[1])


class MaxBlurPool2d(nn.Sequential):
    """2x2 max-pool (stride 1) -> BlurPool (reflect pad, filt_size blur, stride 2)."""

    def __init__(self, channels: int, filt_size: int = 4, pad_type: str = "reflect") -> None:
        super().__init__(
            nn.MaxPool2d(kernel_size=2, stride=1),
            BlurPool2d(channels, filt_size=filt_size, stride=2, pad_type=pad_type),
        )
