import math

import torch
import torch.nn as nn

from .common import require, require_positive


class SUnetEfficientAttentionGate(nn.Module):
    """Grouped 1x1 conv -> BN -> ReLU on gate and skip -> add -> ReLU -> 1x1 conv -> BN
    -> sigmoid -> skip * psi + skip.
    """

    def __init__(
        self,
        gate_channels: int,
        skip_channels: int,
        inter_channels: int,
        groups: int = 32,
    ) -> None:
        super().__init__()
        for name, value in (
            ("gate_channels", gate_channels),
            ("skip_channels", skip_channels),
            ("inter_channels", inter_channels),
        ):
            require(value % groups == 0, f"{name} ({value}) must be divisible by groups ({groups})")
        self.grouped_conv_g = nn.Sequential(
            nn.Conv2d(gate_channels, inter_channels, 1, groups=groups, bias=True),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(),
        )
        self.grouped_conv_x = nn.Sequential(
            nn.Conv2d(skip_channels, inter_channels, 1, groups=groups, bias=True),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(),
        )
        self.psi = nn.Sequential(
            nn.Conv2d(inter_channels, 1, 1, bias=True),
            nn.BatchNorm2d(1),
        )

    def forward(self, gate: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        joint = torch.relu(self.grouped_conv_g(gate) + self.grouped_conv_x(skip))
        psi = torch.sigmoid(self.psi(joint))
        return skip * psi + skip


class SUnetEfficientChannelAttention(nn.Module):
    """Avg pool -> 1D conv across channels (k from log2(C)) -> sigmoid weights."""

    def __init__(self, channels: int, gamma: int = 2, b: int = 1) -> None:
        super().__init__()
        kernel_size = int(abs((math.log2(channels) + b) / gamma))
        if kernel_size % 2 == 0:
            kernel_size += 1
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3)).unsqueeze(1)
        weights = self.conv(pooled)
        return torch.sigmoid(weights).reshape(x.shape[0], x.shape[1], 1, 1)


class SUnetSpatialAttention(nn.Module):
    """Channel mean and max -> concat -> kxk conv -> sigmoid weights."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        odd = kernel_size > 0 and kernel_size % 2 == 1  # so that the map keeps H and W
        require(odd, f"spatial_kernel_size ({kernel_size}) must be a positive odd number")
        self.conv1 = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg_map = x.mean(dim=1, keepdim=True)
        max_map = x.amax(dim=1, keepdim=True)
        return torch.sigmoid(self.conv1(torch.cat([avg_map, max_map], dim=1)))


class EfficientFeatureFusion(nn.Module):
    """EAG(gate=x, skip) -> concat [gated skip, x] -> ECA reweight -> spatial
    attention reweight.
    """

    def __init__(
        self,
        channels: int,
        inter_channels: int = 0,
        groups: int = 32,
        eca_gamma: int = 2,
        eca_b: int = 1,
        spatial_kernel_size: int = 7,
    ) -> None:
        super().__init__()
        if not inter_channels:  # 0 (or None): the gate is as wide as the input
            inter_channels = channels
        require_positive(groups=groups)  # the attention gate's grouped 1x1 convolutions
        for name, value in (("channels", channels), ("inter_channels", inter_channels)):
            require(value % groups == 0, f"{name} ({value}) must be divisible by groups ({groups})")
        # EAG, ECA, SA: the official code's names, kept for its state_dict keys
        self.EAG = SUnetEfficientAttentionGate(channels, channels, inter_channels, groups)
        self.ECA = SUnetEfficientChannelAttention(2 * channels, eca_gamma, eca_b)
        self.SA = SUnetSpatialAttention(spatial_kernel_size)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        fused = torch.cat([self.EAG(x, skip), x], dim=1)
        fused = self.ECA(fused) * fused
        return self.SA(fused) * fused
