import torch
import torch.nn as nn

from .blocks import act_layer, conv3x3, norm_layer
from .common import require_positive


class DenseNetLayer(nn.Module):
    """norm -> act -> 1x1 conv (bn_size * k) -> norm -> act -> 3x3 conv (k new maps)."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = norm_layer(in_channels)
        self.relu1 = act_layer()
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, kernel_size=1, bias=False)
        self.norm2 = norm_layer(bn_size * growth_rate)
        self.relu2 = act_layer()
        self.conv2 = conv3x3(bn_size * growth_rate, growth_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(out)))


class DenseNetTransition(nn.Module):
    """norm -> act -> 1x1 conv (no pooling: the block keeps H and W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = norm_layer(in_channels)
        self.relu = act_layer()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.relu(self.norm(x)))


class DenseNetBlock(nn.Module):
    """num_layers x (dense layer -> concat with all previous maps) -> transition
    (norm -> act -> 1x1 conv to C_out).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_layers: int = 4,
        growth_rate: int = 32,
        bn_size: int = 4,
    ) -> None:
        super().__init__()
        require_positive(
            in_channels=in_channels,
            out_channels=out_channels,
            num_layers=num_layers,
            growth_rate=growth_rate,
            bn_size=bn_size,
        )
        self.denseblock = nn.ModuleDict(
            {
                f"denselayer{i + 1}": DenseNetLayer(in_channels + i * growth_rate, growth_rate, bn_size)
                for i in range(num_layers)
            }
        )
        self.transition = DenseNetTransition(in_channels + num_layers * growth_rate, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = x
        for layer in self.denseblock.values():
            features = torch.cat([features, layer(features)], dim=1)
        return self.transition(features)
