import torch
import torch.nn as nn


class AttentionGateFusion(nn.Module):
    """1x1 conv + BN on gate x and on skip -> add -> ReLU -> 1x1 conv -> BN -> sigmoid = a -> concat [a * skip, x]."""

    def __init__(self, in_channels: int, skip_channels: int, reduction: int = 2) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("skip_channels", skip_channels),
            ("reduction", reduction),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be a positive integer.")
        inter_channels = skip_channels // reduction
        if inter_channels < 1:
            raise ValueError(
                f"skip_channels ({skip_channels}) // reduction ({reduction}) must be at least 1 "
                f"because the gate's intermediate layer has skip_channels // reduction channels."
            )
        self.W_g = nn.Sequential(
            nn.Conv2d(in_channels, inter_channels, kernel_size=1, bias=True),
            nn.BatchNorm2d(inter_channels),
        )
        self.W_x = nn.Sequential(
            nn.Conv2d(skip_channels, inter_channels, kernel_size=1, bias=True),
            nn.BatchNorm2d(inter_channels),
        )
        self.psi = nn.Sequential(
            nn.Conv2d(inter_channels, 1, kernel_size=1, bias=True),
            nn.BatchNorm2d(1),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # The upsampled decoder tensor is the gating signal g; the skip tensor is gated.
        joint = torch.relu(self.W_g(x) + self.W_x(skip))
        attention = torch.sigmoid(self.psi(joint))
        return torch.cat([skip * attention, x], dim=1)
