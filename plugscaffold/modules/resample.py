import torch
import torch.nn as nn
import torch.nn.functional as F


class InterpolateUp(nn.Module):
    """2x interpolation -> kxk conv (in_channels -> out_channels)."""

    def __init__(
        self, in_channels: int, out_channels: int, mode: str = "bilinear", kernel_size: int = 1
    ) -> None:
        super().__init__()
        if mode not in ("bilinear", "nearest", "bicubic"):
            raise ValueError(f"mode must be 'bilinear', 'nearest' or 'bicubic', got {mode!r}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.mode = mode
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        align = False if self.mode != "nearest" else None
        x = F.interpolate(x, scale_factor=2.0, mode=self.mode, align_corners=align)
        return self.conv(x)
