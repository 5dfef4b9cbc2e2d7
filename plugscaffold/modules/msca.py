import torch
import torch.nn as nn

from .common import require_positive


class MultiScaleConvAttention(nn.Module):
    """5x5 depthwise conv -> + (1x7 -> 7x1), (1x11 -> 11x1), (1x21 -> 21x1) depthwise
    strip convs -> 1x1 conv -> x * attention.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        require_positive(channels=channels)
        c = channels
        self.conv0 = nn.Conv2d(c, c, 5, padding=2, groups=c)
        # Branch k: a depthwise 1xk then kx1 strip pair, for k = 7, 11, 21.
        self.conv0_1 = nn.Conv2d(c, c, (1, 7), padding=(0, 3), groups=c)
        self.conv0_2 = nn.Conv2d(c, c, (7, 1), padding=(3, 0), groups=c)
        self.conv1_1 = nn.Conv2d(c, c, (1, 11), padding=(0, 5), groups=c)
        self.conv1_2 = nn.Conv2d(c, c, (11, 1), padding=(5, 0), groups=c)
        self.conv2_1 = nn.Conv2d(c, c, (1, 21), padding=(0, 10), groups=c)
        self.conv2_2 = nn.Conv2d(c, c, (21, 1), padding=(10, 0), groups=c)
        self.conv3 = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Depthwise convolutions run several times faster in channels_last on CPU (oneDNN);
        # the result is returned in the input's memory format.
        inp = x.contiguous(memory_format=torch.channels_last)
        base = self.conv0(inp)
        attn = base + self.conv0_2(self.conv0_1(base))
        attn = attn + self.conv1_2(self.conv1_1(base))
        attn = attn + self.conv2_2(self.conv2_1(base))
        out = self.conv3(attn) * inp
        if x.is_contiguous(memory_format=torch.channels_last):
            return out
        return out.contiguous()


class MSCASpatialAttention(nn.Module):
    """1x1 conv -> GELU -> MSCA -> 1x1 conv -> + x (SegNeXt's SpatialAttention)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        require_positive(channels=channels)
        self.proj_1 = nn.Conv2d(channels, channels, 1)
        self.activation = nn.GELU()
        self.spatial_gating_unit = MultiScaleConvAttention(channels)
        self.proj_2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.activation(self.proj_1(x))
        return self.proj_2(self.spatial_gating_unit(y)) + x
