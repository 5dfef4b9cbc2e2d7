import torch
import torch.nn as nn

from .blocks import act_layer, conv3x3, norm_layer
from .common import require_positive


class ResNetBasicBlock(nn.Module):
    """3x3 conv -> norm -> act -> 3x3 conv -> norm -> + shortcut (identity, or 1x1 conv -> norm) -> act."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, out_channels=out_channels)
        self.conv1 = conv3x3(in_channels, out_channels)
        self.bn1 = norm_layer(out_channels)
        self.relu = act_layer()
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = norm_layer(out_channels)
        self.downsample = None
        if in_channels != out_channels:
            # torchvision's projection shortcut (its "downsample", here with stride 1).
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                norm_layer(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)
