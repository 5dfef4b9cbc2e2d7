from typing import Optional

import torch
import torch.nn as nn


def conv3x3(in_channels: int, out_channels: int) -> nn.Module:
    """The 3x3 convolution of every block (stride 1, same padding, no bias)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)


def norm_layer(in_channels: int) -> nn.Module:
    """The normalisation after every block convolution."""
    return nn.BatchNorm2d(in_channels)


def act_layer() -> nn.Module:
    """The activation after every block normalisation."""
    return nn.ReLU(inplace=True)


class DoubleConv(nn.Module):
    """(3x3 conv -> norm -> act) x 2."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: Optional[int] = None) -> None:
        super().__init__()
        mid_channels = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            conv3x3(in_channels, mid_channels),
            norm_layer(mid_channels),
            act_layer(),
            conv3x3(mid_channels, out_channels),
            norm_layer(out_channels),
            act_layer(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)
