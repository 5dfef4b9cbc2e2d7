import torch
import torch.nn as nn

from .blocks import act_layer, conv3x3, norm_layer
from .common import require, require_positive


class ResNetBottleneck(nn.Module):
    """1x1 conv (C_out/4) -> norm -> act -> 3x3 conv -> norm -> act -> 1x1 conv
    (C_out) -> norm -> + shortcut -> act.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, out_channels=out_channels)
        # the bottleneck width is out_channels // 4 (ResNet's expansion of 4)
        require(out_channels >= 4, f"out_channels ({out_channels}) must be at least 4")
        mid_channels = out_channels // 4
        self.conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size=1, bias=False)
        self.bn1 = norm_layer(mid_channels)
        self.conv2 = conv3x3(mid_channels, mid_channels)
        self.bn2 = norm_layer(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, kernel_size=1, bias=False)
        self.bn3 = norm_layer(out_channels)
        self.relu = act_layer()
        self.downsample = None
        if in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                norm_layer(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)
