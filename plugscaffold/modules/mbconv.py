import torch
import torch.nn as nn

from .blocks import norm_layer
from .common import require, require_positive


def make_divisible_channels(value: float, divisor: int) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``),
    never more than 10% down.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class MBConvSqueezeExcitation(nn.Module):
    """Global average pool -> 1x1 conv (squeeze) -> SiLU -> 1x1 conv -> sigmoid -> scale the input."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze_channels, kernel_size=1)
        self.activation = nn.SiLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(scale)


class EfficientNetMBConv(nn.Module):
    """1x1 conv (expand) -> norm -> SiLU -> kxk depthwise conv -> norm -> SiLU -> SE
    -> 1x1 conv -> norm -> + shortcut.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expand_ratio: int = 6,
        kernel_size: int = 3,
        se_ratio: float = 0.25,
    ) -> None:
        super().__init__()
        require_positive(
            in_channels=in_channels,
            out_channels=out_channels,
            expand_ratio=expand_ratio,
            kernel_size=kernel_size,
        )
        # the depthwise conv keeps H and W
        require(kernel_size % 2 != 0, f"kernel_size ({kernel_size}) must be odd")
        # the SE squeezes to in_channels * se_ratio
        require(0.0 < se_ratio <= 1.0, f"se_ratio ({se_ratio}) must be in (0, 1]")
        # Expanded width rounded to a multiple of 8, as torchvision's EfficientNet does.
        expanded = make_divisible_channels(in_channels * expand_ratio, 8)
        layers = []
        if expanded != in_channels:
            layers.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, expanded, kernel_size=1, bias=False),
                    norm_layer(expanded),
                    nn.SiLU(inplace=True),
                )
            )
        layers.append(
            nn.Sequential(
                nn.Conv2d(
                    expanded, expanded, kernel_size, padding=kernel_size // 2, groups=expanded, bias=False
                ),
                norm_layer(expanded),
                nn.SiLU(inplace=True),
            )
        )
        # The squeeze width follows the block's input width (EfficientNet: in_channels // 4).
        layers.append(MBConvSqueezeExcitation(expanded, max(1, int(in_channels * se_ratio))))
        layers.append(
            nn.Sequential(
                nn.Conv2d(expanded, out_channels, kernel_size=1, bias=False),
                norm_layer(out_channels),
            )
        )
        self.block = nn.Sequential(*layers)
        self.shortcut = None
        if in_channels != out_channels:
            # torchvision drops the residual here; a 1x1 conv + norm keeps the block residual.
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                norm_layer(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.block(x) + identity
