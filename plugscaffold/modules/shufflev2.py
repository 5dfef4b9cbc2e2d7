import torch
import torch.nn as nn

from .blocks import act_layer, norm_layer
from .common import require, require_positive


class ShuffleNetV2Unit(nn.Module):
    """Split (or project) -> 1x1 conv -> norm -> act -> 3x3 dw conv -> norm -> 1x1
    conv -> norm -> act -> concat -> channel shuffle (2 groups).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, out_channels=out_channels)
        # the unit concatenates two branches of out_channels // 2 channels
        require(out_channels % 2 == 0, f"out_channels ({out_channels}) must be even")
        branch = out_channels // 2
        self.split = in_channels == out_channels
        if self.split:
            # The basic unit: half the channels pass through, branch2 transforms the other half.
            self.branch1 = nn.Sequential()
        else:
            # The two-branch (downsampling) unit at stride 1: branch1 projects the whole input.
            self.branch1 = nn.Sequential(
                nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
                norm_layer(in_channels),
                nn.Conv2d(in_channels, branch, kernel_size=1, bias=False),
                norm_layer(branch),
                act_layer(),
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(branch if self.split else in_channels, branch, kernel_size=1, bias=False),
            norm_layer(branch),
            act_layer(),
            nn.Conv2d(branch, branch, 3, padding=1, groups=branch, bias=False),
            norm_layer(branch),
            nn.Conv2d(branch, branch, kernel_size=1, bias=False),
            norm_layer(branch),
            act_layer(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split:
            first, rest = x.chunk(2, dim=1)
            second = self.branch2(rest)
        else:
            first, second = self.branch1(x), self.branch2(x)
        # concat + channel shuffle with 2 groups in one copy: channel 2i is first[i], 2i + 1 is second[i].
        return torch.stack((first, second), dim=2).flatten(1, 2)
