import torch
import torch.nn as nn


class CBAMChannelGate(nn.Module):
    """Global avg and max pool -> shared MLP (C -> C/r -> C) -> sum -> sigmoid -> x * weights."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("reduction", reduction)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be a positive integer.")
        hidden = channels // reduction
        if hidden < 1:
            raise ValueError(
                f"channels ({channels}) // reduction ({reduction}) must be at least 1 "
                f"because the shared MLP has channels // reduction hidden units."
            )
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
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=0)
        logits = self.mlp(pooled)
        weights = torch.sigmoid(logits[:b] + logits[b:])
        return x * weights.reshape(b, c, 1, 1)


class CBAMSpatialGate(nn.Module):
    """Channel max and mean -> concat -> kxk conv -> BN -> sigmoid -> x * weights."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int):
            raise ValueError(f"spatial_kernel ({kernel_size!r}) must be an integer.")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"spatial_kernel ({kernel_size}) must be a positive odd number "
                f"so that the spatial attention map keeps the input size."
            )
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
    """Channel gate (avg+max pool -> shared MLP -> sigmoid) -> spatial gate (max+mean -> kxk conv -> BN -> sigmoid)."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7) -> None:
        super().__init__()
        self.ChannelGate = CBAMChannelGate(channels, reduction)
        self.SpatialGate = CBAMSpatialGate(spatial_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))
