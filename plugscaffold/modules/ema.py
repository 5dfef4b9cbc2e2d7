import torch
import torch.nn as nn

from .common import require, require_positive


class EfficientMultiScaleAttention(nn.Module):
    """Groups -> strip-pool gates + GN || 3x3 conv -> cross-spatial softmax matmuls -> sigmoid -> x * map."""

    def __init__(self, channels: int, groups: int = 32) -> None:
        super().__init__()
        require_positive(channels=channels, groups=groups)
        # the input is reshaped into groups of channels // groups channels
        require(channels % groups == 0, f"channels ({channels}) must be divisible by groups ({groups})")
        self.groups = groups
        width = channels // groups
        # gn / conv1x1 / conv3x3 act on one group of `width` channels, as in the official code.
        self.gn = nn.GroupNorm(width, width)
        self.conv1x1 = nn.Conv2d(width, width, kernel_size=1)
        self.conv3x3 = nn.Conv2d(width, width, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        grouped = x.reshape(b * self.groups, c // self.groups, h, w)
        # 1x1 branch: the H and W strips share the 1x1 conv, then gate the group.
        strips = torch.cat([grouped.mean(dim=3), grouped.mean(dim=2)], dim=2).unsqueeze(3)
        a_h, a_w = torch.split(self.conv1x1(strips), [h, w], dim=2)
        x1 = self.gn(grouped * torch.sigmoid(a_h) * torch.sigmoid(a_w).transpose(2, 3))
        # 3x3 branch.
        x2 = self.conv3x3(grouped)
        # Cross-spatial learning: the softmax of each branch's pooled channels weights the
        # other branch's maps; both are summed into one (H, W) map per group.
        s1 = torch.softmax(x1.mean(dim=(2, 3)), dim=-1).unsqueeze(1)  # (BG, 1, C/G)
        s2 = torch.softmax(x2.mean(dim=(2, 3)), dim=-1).unsqueeze(1)
        # (BG, 1, HW)
        weights = torch.matmul(s1, x2.flatten(2)) + torch.matmul(s2, x1.flatten(2))
        out = grouped * torch.sigmoid(weights).reshape(b * self.groups, 1, h, w)
        return out.reshape(b, c, h, w)
