import torch
import torch.nn as nn

from .common import require


class LargeSelectiveKernel(nn.Module):
    """5x5 dw conv -> 7x7 dw conv (dilation 3); each -> 1x1 conv to C/2 -> channel
    mean+max -> 7x7 conv -> sigmoid selection -> 1x1 conv -> x * attn.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        # each of the two kernel branches is reduced to channels // 2 feature maps
        require(
            type(channels) is int and channels >= 2,
            f"channels ({channels!r}) must be an integer of at least 2",
        )
        hidden = channels // 2
        # Attribute names and shapes of the official LSKblock.
        self.conv0 = nn.Conv2d(channels, channels, 5, padding=2, groups=channels)
        self.conv_spatial = nn.Conv2d(channels, channels, 7, padding=9, groups=channels, dilation=3)
        self.conv1 = nn.Conv2d(channels, hidden, 1)
        self.conv2 = nn.Conv2d(channels, hidden, 1)
        self.conv_squeeze = nn.Conv2d(2, 2, 7, padding=3)
        self.conv = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = self.conv0(x)  # receptive field 5
        large = self.conv_spatial(small)  # receptive field 23
        small = self.conv1(small)
        large = self.conv2(large)
        # Mean and max over the 2 * (C/2) channels of both branches, without concatenating them.
        count = small.shape[1] + large.shape[1]
        mean = (small.sum(dim=1, keepdim=True) + large.sum(dim=1, keepdim=True)) / count
        peak = torch.maximum(small.amax(dim=1, keepdim=True), large.amax(dim=1, keepdim=True))
        select = torch.sigmoid(self.conv_squeeze(torch.cat([mean, peak], dim=1)))
        attn = small * select[:, 0:1] + large * select[:, 1:2]
        return x * self.conv(attn)
