import math

import torch
import torch.nn as nn

from .common import require, require_positive


class GhostModule(nn.Module):
    """kxk conv -> BN [-> ReLU] (intrinsic maps) -> dxd depthwise conv -> BN [->
    ReLU] (ghost maps) -> concat -> first C_out.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        ratio: int = 2,
        dw_size: int = 3,
        relu: bool = True,
    ) -> None:
        super().__init__()
        require_positive(
            in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, dw_size=dw_size
        )
        for name, value in (("kernel_size", kernel_size), ("dw_size", dw_size)):
            require(value % 2 != 0, f"{name} ({value}) must be odd, to keep H and W")
        # the cheap operation produces ghost maps
        require(type(ratio) is int and ratio >= 2, f"ratio ({ratio!r}) must be an integer of at least 2")
        self.oup = out_channels
        init_channels = math.ceil(out_channels / ratio)
        new_channels = init_channels * (ratio - 1)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(in_channels, init_channels, kernel_size, 1, kernel_size // 2, bias=False),
            nn.BatchNorm2d(init_channels),
            nn.ReLU() if relu else nn.Identity(),
        )
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(
                init_channels, new_channels, dw_size, 1, dw_size // 2, groups=init_channels, bias=False
            ),
            nn.BatchNorm2d(new_channels),
            nn.ReLU() if relu else nn.Identity(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        intrinsic = self.primary_conv(x)
        ghost = self.cheap_operation(intrinsic)
        # Keep only the ghost maps that fit in out_channels (ceil(C_out / ratio) * ratio may exceed it).
        return torch.cat([intrinsic, ghost[:, : self.oup - intrinsic.shape[1]]], dim=1)
