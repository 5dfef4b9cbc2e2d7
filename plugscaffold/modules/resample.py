import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require


class InterpolateUp(nn.Module):
    """2x interpolation -> kxk conv (kernel_size 0: none, channels kept)."""

    def __init__(
        self, in_channels: int, out_channels: int, mode: str = "bilinear", kernel_size: int = 1
    ) -> None:
        super().__init__()
        require(
            mode in ("bilinear", "nearest", "bicubic"),
            f"mode must be 'bilinear', 'nearest' or 'bicubic', got {mode!r}",
        )
        require(
            kernel_size == 0 or (kernel_size >= 1 and kernel_size % 2 != 0),
            "kernel_size must be 0 (no convolution) or a positive odd number, " f"got {kernel_size}",
        )
        require(
            kernel_size != 0 or in_channels == out_channels,
            f"kernel_size 0 keeps the channels: in_channels ({in_channels}) must equal "
            f"out_channels ({out_channels})",
        )
        self.mode = mode
        # kernel_size 0: interpolation alone (smp's Unet decoder)
        self.conv = (
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
            if kernel_size
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        align = False if self.mode != "nearest" else None
        x = F.interpolate(x, scale_factor=2.0, mode=self.mode, align_corners=align)
        return self.conv(x)
