import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require


class YOLOConvBNSiLU(nn.Module):
    """kxk conv (no bias, 'same' padding for stride 1) -> BN -> SiLU (the YOLOv5/v9 Conv)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class ADown(nn.Module):
    """2x2 avg-pool (s1) -> halves: [3x3 s2 Conv-BN-SiLU | 3x3 s2 max-pool -> 1x1 Conv-BN-SiLU] -> concat."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        # ADown splits the input into two halves
        require(
            in_channels >= 2 and in_channels % 2 == 0,
            f"in_channels ({in_channels}) must be a positive even number",
        )
        # each of the two branches makes half of the output
        require(
            out_channels >= 2 and out_channels % 2 == 0,
            f"out_channels ({out_channels}) must be a positive even number",
        )
        half_in = in_channels // 2
        half_out = out_channels // 2
        self.cv1 = YOLOConvBNSiLU(half_in, half_out, kernel_size=3, stride=2)
        self.cv2 = YOLOConvBNSiLU(half_in, half_out, kernel_size=1, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, kernel_size=2, stride=1)
        x1, x2 = x.chunk(2, dim=1)
        x1 = self.cv1(x1)
        x2 = self.cv2(F.max_pool2d(x2, kernel_size=3, stride=2, padding=1))
        return torch.cat((x1, x2), dim=1)
