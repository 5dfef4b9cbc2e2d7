import torch
import torch.nn as nn

from .common import require, require_positive


class ShuffleAttention(nn.Module):
    """Split C into G groups, halve each: channel gate (avg pool -> affine ->
    sigmoid) | spatial gate (GroupNorm -> affine -> sigmoid) -> concat -> channel
    shuffle (2).
    """

    def __init__(self, channels: int, groups: int = 64) -> None:
        super().__init__()
        require_positive(channels=channels, groups=groups)
        # each group is split into a channel half and a spatial half
        twice = 2 * groups
        require(channels % twice == 0, f"channels ({channels}) must be divisible by 2 * groups ({twice})")
        self.groups = groups
        half = channels // (2 * groups)
        self.cweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, half, 1, 1))
        # One group per channel: every channel of the spatial half is normalized over H x W.
        self.gn = nn.GroupNorm(half, half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        grouped = x.reshape(b * self.groups, c // self.groups, h, w)
        x_channel, x_spatial = grouped.chunk(2, dim=1)
        gate_c = self.cweight * x_channel.mean(dim=(2, 3), keepdim=True) + self.cbias
        gate_s = self.sweight * self.gn(x_spatial) + self.sbias
        out = torch.cat([x_channel * torch.sigmoid(gate_c), x_spatial * torch.sigmoid(gate_s)], dim=1)
        # Channel shuffle with 2 groups: channel k of the first half is followed by channel k of
        # the second half.
        out = out.reshape(b, 2, c // 2, h, w).transpose(1, 2)
        return out.reshape(b, c, h, w)
