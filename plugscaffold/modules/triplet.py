import torch
import torch.nn as nn

from .common import require, require_positive


class TripletAttentionGate(nn.Module):
    """Z-pool over dim 1 ([max, mean]) -> kxk conv -> BN -> sigmoid weights."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        require(type(kernel_size) is int, f"kernel_size ({kernel_size!r}) must be an integer")
        # the attention map keeps the size of the pooled plane
        require(
            kernel_size >= 1 and kernel_size % 2 != 0,
            f"kernel_size ({kernel_size}) must be a positive odd number",
        )
        # conv.conv / conv.bn, the official BasicConv names (bias-free conv, BN momentum 0.01).
        self.conv = nn.Sequential()
        self.conv.add_module("conv", nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False))
        self.conv.add_module("bn", nn.BatchNorm2d(1, eps=1e-5, momentum=0.01))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class TripletAttention(nn.Module):
    """Gates on (C, W), (H, C) and (H, W) planes (Z-pool over H, W, C) -> mean of the three x * map."""

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        require_positive(channels=channels)
        # cw: C-W interaction (pooled over H); hc: H-C interaction (pooled over W);
        # hw: spatial (pooled over C). Names as in the official state_dict.
        self.cw = TripletAttentionGate(kernel_size)
        self.hc = TripletAttentionGate(kernel_size)
        self.hw = TripletAttentionGate(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Each gate sees a permuted view (no copies) and its map is permuted back:
        # (B, C, 1, W), (B, C, H, 1) and (B, 1, H, W), broadcast into one sum.
        a_cw = self.cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
        a_hc = self.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
        a_hw = self.hw(x)
        return x * ((a_cw + a_hc + a_hw) / 3)
