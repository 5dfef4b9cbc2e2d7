import torch
import torch.nn as nn

from .common import require, require_positive
from .norms import LayerNorm2d


class ConvNeXtBlock(nn.Module):
    """[1x1 conv -> LayerNorm (projection)] -> 7x7 dw conv -> LayerNorm -> Linear
    (4C) -> GELU -> Linear (C) -> layer scale -> + input.
    """

    def __init__(self, in_channels: int, out_channels: int, layer_scale_init_value: float = 1e-6) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, out_channels=out_channels)
        scale = layer_scale_init_value  # 0 disables layer scale
        require(scale >= 0, f"layer_scale_init_value ({scale}) must be non-negative")
        self.proj = None
        if in_channels != out_channels:
            # Channel change before the block (conv then LayerNorm, the order of ConvNeXt's stem).
            self.proj = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1), LayerNorm2d(out_channels)
            )
        dim = out_channels
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        if layer_scale_init_value > 0:
            self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))
        else:
            self.register_parameter("gamma", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            x = self.proj(x)
        # (B, H, W, C): LayerNorm and Linear act on the last dim
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        if self.gamma is not None:
            y = y * self.gamma
        return x + y.permute(0, 3, 1, 2)
