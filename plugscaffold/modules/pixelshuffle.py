import torch
import torch.nn as nn

from .common import require


class PixelShuffleUp(nn.Module):
    """kxk conv (in_channels -> out_channels * 4) -> pixel shuffle (x2) (ESPCN sub-pixel convolution)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        require(in_channels >= 1, f"in_channels ({in_channels}) must be a positive integer")
        require(out_channels >= 1, f"out_channels ({out_channels}) must be a positive integer")
        require(
            kernel_size >= 1 and kernel_size % 2 != 0,
            f"kernel_size ({kernel_size}) must be a positive odd number",
        )
        self.conv = nn.Conv2d(in_channels, 4 * out_channels, kernel_size, padding=kernel_size // 2)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))
