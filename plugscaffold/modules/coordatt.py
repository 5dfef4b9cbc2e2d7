import torch
import torch.nn as nn

from .common import require_positive


class CoordinateAttention(nn.Module):
    """Strip pools -> 1x1 conv -> BN -> h-swish -> split -> 1x1 conv per axis -> sigmoid -> x * a_h * a_w."""

    def __init__(self, channels: int, reduction: int = 32, min_hidden: int = 8) -> None:
        super().__init__()
        require_positive(channels=channels, reduction=reduction, min_hidden=min_hidden)
        hidden = max(min_hidden, channels // reduction)
        # conv1 / bn1 / conv_h / conv_w as in the official state_dict; the plug-in keeps
        # the channel count, so the official oup equals inp.
        self.conv1 = nn.Conv2d(channels, hidden, kernel_size=1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(hidden, channels, kernel_size=1)
        self.conv_w = nn.Conv2d(hidden, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        # (B, C, H + W, 1): the H strip, then the W strip, encoded together.
        strips = torch.cat([x.mean(dim=3), x.mean(dim=2)], dim=2).unsqueeze(3)
        y = self.act(self.bn1(self.conv1(strips)))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        a_h = torch.sigmoid(self.conv_h(y_h))  # (B, C, H, 1)
        a_w = torch.sigmoid(self.conv_w(y_w)).transpose(2, 3)  # (B, C, 1, W)
        return x * a_w * a_h
