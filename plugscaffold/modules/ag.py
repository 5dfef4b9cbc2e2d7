import torch
import torch.nn as nn

from .common import require, require_positive


class AttentionGateFusion(nn.Module):
    """1x1 conv + BN on gate x and on skip -> add -> ReLU -> 1x1 conv -> BN ->
    sigmoid = a -> concat [a * skip, x].
    """

    def __init__(self, in_channels: int, skip_channels: int, reduction: int = 2) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, skip_channels=skip_channels, reduction=reduction)
        inter_channels = skip_channels // reduction
        # the gate's intermediate layer has skip_channels // reduction channels
        hint = f"skip_channels ({skip_channels}) // reduction ({reduction})"
        require(inter_channels >= 1, f"{hint} must be at least 1")
        # W_g, W_x, psi: the names of the official checkpoints' state_dict keys
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
