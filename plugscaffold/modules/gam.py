import torch
import torch.nn as nn

from .common import require, require_positive


class GlobalAttentionMechanism(nn.Module):
    """Permute to (B, H, W, C) -> MLP (C -> C/r -> C) -> sigmoid -> x * weights ->
    7x7 conv (C -> C/r) -> BN -> ReLU -> 7x7 conv (C/r -> C) -> BN -> sigmoid -> x *
    weights.
    """

    def __init__(self, channels: int, rate: int = 4) -> None:
        super().__init__()
        require_positive(channels=channels, rate=rate)
        hidden = channels // rate
        # the channel MLP and the first spatial convolution have channels // rate units
        require(hidden >= 1, f"channels ({channels}) // rate ({rate}) must be at least 1")
        # Same indices as the common PyTorch GAM_Attention: Linear at 0 and 2, convs at 0 and 3,
        # BatchNorms at 1 and 4.
        self.channel_attention = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(),
            nn.Linear(hidden, channels),
        )
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=7, padding=3),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, kernel_size=7, padding=3),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The MLP runs over C at every (h, w): permute C last, apply, permute back. The
        # inverse permutation must be (0, 3, 1, 2), so each weight lands on its own channel.
        weights = self.channel_attention(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = x * torch.sigmoid(weights)
        return x * torch.sigmoid(self.spatial_attention(x))
