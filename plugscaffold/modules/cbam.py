import torch
import torch.nn as nn

from .common import require, require_positive


class CBAMChannelGate(nn.Module):
    """Avg+max pool -> shared MLP (C -> C/r -> C) -> sum -> sigmoid -> x * weights."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        require_positive(channels=channels, reduction=reduction)
        hidden = channels // reduction  # the shared MLP's hidden units
        require(hidden >= 1, f"channels ({channels}) // reduction ({reduction}) is 0")
        # Index 0 is a parameter-free flatten so the Linear layers sit at mlp.1 and
        # mlp.3, the keys of the official checkpoints.
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels, hidden),
            nn.ReLU(),
            nn.Linear(hidden, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], x.shape[1]
        # mlp(avg) + mlp(max) in one MLP pass: the two pooled vectors stacked on the batch
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=0)
        logits = self.mlp(pooled)
        weights = torch.sigmoid(logits[:b] + logits[b:])
        return x * weights.reshape(b, c, 1, 1)


class CBAMSpatialGate(nn.Module):
    """Channel max and mean -> concat -> kxk conv -> BN -> sigmoid -> x * weights."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        odd = type(kernel_size) is int and kernel_size > 0 and kernel_size % 2 == 1
        require(odd, f"spatial_kernel ({kernel_size!r}) must be odd, to keep H and W")
        # Submodules named conv and bn inside spatial, as in the official state_dict.
        self.spatial = nn.Sequential()
        self.spatial.add_module(
            "conv",
            nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False),
        )
        self.spatial.add_module("bn", nn.BatchNorm2d(1, eps=1e-5, momentum=0.01))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channel order [max, mean] is the one the official conv weights expect.
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """Channel gate (avg+max pool -> shared MLP -> sigmoid) -> spatial gate
    (max+mean -> kxk conv -> BN -> sigmoid).
    """

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7) -> None:
        super().__init__()
        # CamelCase names: the state_dict keys of the official checkpoints
        self.ChannelGate = CBAMChannelGate(channels, reduction)
        self.SpatialGate = CBAMSpatialGate(spatial_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))
