import torch
import torch.nn as nn


class SpatialChannelSqueezeExcite(nn.Module):
    """cSE (avg pool -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid), sSE (1x1 conv -> sigmoid) -> x * c + x * s (or max)."""

    def __init__(self, channels: int, reduction: int = 16, combine: str = "add") -> None:
        super().__init__()
        if combine not in ("add", "max"):
            raise ValueError(
                f"combine must be 'add' (the paper) or 'max' (the authors' code), got {combine!r}"
            )
        self.combine = combine
        for name, value in (("channels", channels), ("reduction", reduction)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be a positive integer.")
        hidden = channels // reduction
        if hidden < 1:
            raise ValueError(
                f"channels ({channels}) // reduction ({reduction}) must be at least 1 "
                f"because the channel excitation has channels // reduction hidden units."
            )
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
