import torch
import torch.nn as nn

from .blocks import norm_layer
from .common import require_positive


class MobileNetV2InvertedResidual(nn.Module):
    """1x1 conv (expand) -> norm -> ReLU6 -> 3x3 depthwise conv -> norm -> ReLU6 ->
    1x1 conv (linear) -> norm -> + shortcut.
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: int = 6) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, out_channels=out_channels, expand_ratio=expand_ratio)
        hidden = int(round(in_channels * expand_ratio))
        layers = []
        if expand_ratio != 1:
            layers.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False),
                    norm_layer(hidden),
                    nn.ReLU6(inplace=True),
                )
            )
        layers.append(
            nn.Sequential(
                nn.Conv2d(hidden, hidden, kernel_size=3, padding=1, groups=hidden, bias=False),
                norm_layer(hidden),
                nn.ReLU6(inplace=True),
            )
        )
        layers.append(nn.Conv2d(hidden, out_channels, kernel_size=1, bias=False))
        layers.append(norm_layer(out_channels))
        self.conv = nn.Sequential(*layers)
        self.shortcut = None
        if in_channels != out_channels:
            # torchvision drops the residual here; a 1x1 conv + norm keeps the block residual.
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                norm_layer(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.conv(x) + identity
