import torch
import torch.nn as nn

from .common import require, require_positive


class SpatialChannelSqueezeExcite(nn.Module):
    """cSE (avg pool -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid), sSE (1x1 conv ->
    sigmoid) -> x * c + x * s (or max).
    """

    def __init__(self, channels: int, reduction: int = 16, combine: str = "add") -> None:
        super().__init__()
        # 'add' in the paper, 'max' in the authors' code
        require(combine in ("add", "max"), f"combine must be 'add' or 'max', got {combine!r}")
        self.combine = combine
        require_positive(channels=channels, reduction=reduction)
        hidden = channels // reduction  # the channel excitation's hidden units
        require(hidden >= 1, f"channels ({channels}) // reduction ({reduction}) is 0")
        # Same layout as the common PyTorch SCSEModule: cSE.1 / cSE.3 and sSE.0 hold weights.
        self.cSE = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, kernel_size=1),
            nn.Sigmoid(),
        )
        self.sSE = nn.Sequential(nn.Conv2d(channels, 1, kernel_size=1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.combine == "max":  # element-wise max of the two recalibrated tensors
            return torch.maximum(x * self.cSE(x), x * self.sSE(x))
        # x * c + x * s, with one full-size product: (B, C, 1, 1) + (B, 1, H, W).
        return x * (self.cSE(x) + self.sSE(x))
