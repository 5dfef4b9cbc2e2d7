import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import act_layer, norm_layer
from .common import require, require_positive
from .mbconv import make_divisible_channels


class GhostBottleneckModule(nn.Module):
    """1x1 conv -> norm [-> act] (intrinsic maps) -> 3x3 depthwise conv -> norm [->
    act] (ghost maps) -> concat -> first C_out.
    """

    def __init__(self, in_channels: int, out_channels: int, relu: bool = True) -> None:
        super().__init__()
        self.oup = out_channels
        init_channels = (out_channels + 1) // 2  # ratio 2: ceil(C_out / 2) intrinsic maps
        self.primary_conv = nn.Sequential(
            nn.Conv2d(in_channels, init_channels, kernel_size=1, bias=False),
            norm_layer(init_channels),
            act_layer() if relu else nn.Identity(),
        )
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(
                init_channels, init_channels, kernel_size=3, padding=1, groups=init_channels, bias=False
            ),
            norm_layer(init_channels),
            act_layer() if relu else nn.Identity(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        intrinsic = self.primary_conv(x)
        ghost = self.cheap_operation(intrinsic)
        return torch.cat([intrinsic, ghost[:, : self.oup - intrinsic.shape[1]]], dim=1)


class GhostNetSqueezeExcite(nn.Module):
    """Global average pool -> 1x1 conv (reduce) -> ReLU -> 1x1 conv (expand) -> hard
    sigmoid -> scale the input.
    """

    def __init__(self, channels: int, se_ratio: float = 0.25) -> None:
        super().__init__()
        reduced = make_divisible_channels(channels * se_ratio, 4)
        self.conv_reduce = nn.Conv2d(channels, reduced, kernel_size=1)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.conv_expand(self.act1(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * F.hardsigmoid(gate)


class GhostBottleneck(nn.Module):
    """Ghost module (expand) -> [SE] -> ghost module (linear) -> + shortcut
    (identity, or dw conv -> norm -> 1x1 conv -> norm).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: int = 3,
        dw_kernel_size: int = 3,
        se_ratio: float = 0.0,
    ) -> None:
        super().__init__()
        require_positive(
            in_channels=in_channels,
            out_channels=out_channels,
            expansion=expansion,
            dw_kernel_size=dw_kernel_size,
        )
        # the shortcut keeps H and W
        require(dw_kernel_size % 2 != 0, f"dw_kernel_size ({dw_kernel_size}) must be odd")
        require(0.0 <= se_ratio <= 1.0, f"se_ratio ({se_ratio}) must be in [0, 1] (0 disables the SE module)")
        mid_channels = in_channels * expansion
        self.ghost1 = GhostBottleneckModule(in_channels, mid_channels, relu=True)
        self.se = GhostNetSqueezeExcite(mid_channels, se_ratio) if se_ratio > 0 else None
        self.ghost2 = GhostBottleneckModule(mid_channels, out_channels, relu=False)
        if in_channels == out_channels:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(
                    in_channels,
                    in_channels,
                    dw_kernel_size,
                    padding=dw_kernel_size // 2,
                    groups=in_channels,
                    bias=False,
                ),
                norm_layer(in_channels),
                nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                norm_layer(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.ghost1(x)
        if self.se is not None:
            out = self.se(out)
        return self.ghost2(out) + self.shortcut(x)
