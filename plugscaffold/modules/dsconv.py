import torch
import torch.nn as nn


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
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be a positive integer.")
        if kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size ({kernel_size}) must be odd so that padding "
                f"kernel_size // 2 ({kernel_size // 2}) keeps H and W."
            )
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
