import torch
import torch.nn as nn

from .blocks import act_layer, conv3x3, norm_layer
from .common import require, require_positive


class InceptionConvNormAct(nn.Module):
    """kxk conv (the block's 3x3 conv hook for k = 3) -> norm (BN eps 1e-3) -> act."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size == 3:
            self.conv = conv3x3(in_channels, out_channels)
        else:
            self.conv = nn.Conv2d(
                in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False
            )
        self.bn = norm_layer(out_channels)
        if isinstance(self.bn, nn.BatchNorm2d):
            self.bn.eps = 1e-3  # GoogLeNet's BatchNorm epsilon
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class InceptionV1Module(nn.Module):
    """[1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1] (each conv -> norm -> act) -> concat (C_out)."""

    def __init__(self, in_channels: int, out_channels: int, branch3_kernel_size: int = 5) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, out_channels=out_channels)
        # each of the four branches (1/4, 1/2, 1/8, 1/8 of out_channels) gets a channel
        require(out_channels >= 8, f"out_channels ({out_channels}) must be at least 8")
        k = branch3_kernel_size  # 5 in the paper, 3 in torchvision
        require(k in (3, 5), f"branch3_kernel_size ({k!r}) must be 5 or 3")
        # GoogLeNet's inception (3a) split 64 : 128 : 32 : 32 of 256, reductions 96 (3x3) and 16 (5x5).
        ch1x1 = out_channels // 4
        ch5x5 = out_channels // 8
        pool_proj = out_channels // 8
        ch3x3 = out_channels - ch1x1 - ch5x5 - pool_proj
        ch3x3red = max(1, ch3x3 * 3 // 4)
        ch5x5red = max(1, ch5x5 // 2)
        self.branch1 = InceptionConvNormAct(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(
            InceptionConvNormAct(in_channels, ch3x3red, 1),
            InceptionConvNormAct(ch3x3red, ch3x3, 3),
        )
        self.branch3 = nn.Sequential(
            InceptionConvNormAct(in_channels, ch5x5red, 1),
            InceptionConvNormAct(ch5x5red, ch5x5, branch3_kernel_size),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            InceptionConvNormAct(in_channels, pool_proj, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)
