import torch
import torch.nn as nn

from .common import require


class SpaceToDepthConv(nn.Module):
    """Space-to-depth (x[::2, ::2], x[1::2, ::2], x[::2, 1::2], x[1::2, 1::2]) -> kxk conv -> BN -> SiLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        require(in_channels >= 1, f"in_channels ({in_channels}) must be a positive integer")
        require(out_channels >= 1, f"out_channels ({out_channels}) must be a positive integer")
        require(
            kernel_size >= 1 and kernel_size % 2 != 0,
            f"kernel_size ({kernel_size}) must be a positive odd number",
        )
        # Attribute names of the YOLOv5 Conv that follows the SPD layer.
        self.conv = nn.Conv2d(
            4 * in_channels, out_channels, kernel_size, stride=1, padding=kernel_size // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        # (n, c, h/2, row offset, w/2, column offset) -> slices ordered with the
        # row offset varying fastest: (0, 0), (1, 0), (0, 1), (1, 1).
        x = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 5, 3, 1, 2, 4)
        x = x.reshape(n, 4 * c, h // 2, w // 2)
        return self.act(self.bn(self.conv(x)))
