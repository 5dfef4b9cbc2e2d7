import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require_positive


class HaarAnalysisFilterBank(nn.Module):
    """Haar low/high-pass column and row filters -> 2x2 kernels (LL, HL, LH, HH)."""

    def __init__(self) -> None:
        super().__init__()
        r = math.sqrt(0.5)
        # Analysis filters stored in correlation order (first tap meets the
        # even sample), with the shapes of the official checkpoint buffers.
        self.register_buffer("h0_col", torch.tensor([r, r]).view(1, 1, 2, 1))
        self.register_buffer("h1_col", torch.tensor([r, -r]).view(1, 1, 2, 1))
        self.register_buffer("h0_row", torch.tensor([r, r]).view(1, 1, 1, 2))
        self.register_buffer("h1_row", torch.tensor([r, -r]).view(1, 1, 1, 2))

    def kernels(self) -> torch.Tensor:
        # (4, 2, 2): [row-in-block, column-in-block] weights of each subband.
        # Index 0: low/low, 1: high-pass over rows and low-pass over columns,
        # 2: low-pass over rows and high-pass over columns, 3: high/high.
        lo_v = self.h0_col.reshape(2, 1)
        hi_v = self.h1_col.reshape(2, 1)
        lo_h = self.h0_row.reshape(1, 2)
        hi_h = self.h1_row.reshape(1, 2)
        return torch.stack([lo_v * lo_h, hi_v * lo_h, lo_v * hi_h, hi_v * hi_h])


class HaarWaveletDownsample(nn.Module):
    """Haar DWT (LL, HL, LH, HH) -> concat -> 1x1 conv -> BN -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, out_channels=out_channels)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.wt = HaarAnalysisFilterBank()
        self.conv_bn_relu = nn.Sequential(
            nn.Conv2d(4 * in_channels, out_channels, kernel_size=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def fused_weight(self) -> torch.Tensor:
        # The DWT and the 1x1 conv are both linear, so together they are one
        # 2x2 stride-2 conv whose kernel mixes the four subband kernels with
        # the band-major input columns of the 1x1 conv.
        conv = self.conv_bn_relu[0]
        w = conv.weight.reshape(self.out_channels, 4, self.in_channels, 1, 1)
        k = self.wt.kernels().reshape(1, 4, 1, 2, 2)
        return (w * k).sum(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h = x.shape[-2] % 2
        pad_w = x.shape[-1] % 2
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        # Haar DWT -> concat -> 1x1 conv as one 2x2 stride-2 conv (fused_weight): both
        # steps are linear, so their composition is too; the same output as the plain
        # chain (tested), without the 4C-channel intermediate
        conv = self.conv_bn_relu[0]
        y = F.conv2d(x, self.fused_weight(), conv.bias, stride=2)  # DWT + 1x1 conv
        y = self.conv_bn_relu[1](y)  # BN
        return self.conv_bn_relu[2](y)  # ReLU
