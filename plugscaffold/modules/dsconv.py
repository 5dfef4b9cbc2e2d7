import torch
import torch.nn as nn

from .common import require, require_positive


class DepthwiseSeparableConv(nn.Module):
    """kxk depthwise conv (groups = in_channels) -> 1x1 pointwise conv (no norm or activation between)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        bias: bool = False,
    ) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size)
        # padding kernel_size // 2 keeps H and W
        require(kernel_size % 2 != 0, f"kernel_size ({kernel_size}) must be odd")
        self.depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=in_channels,
            bias=bias,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))
