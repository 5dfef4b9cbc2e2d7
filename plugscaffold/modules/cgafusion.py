import torch
import torch.nn as nn

from .common import require, require_positive


class CGASpatialAttention(nn.Module):
    """Channel mean and max -> concat -> 7x7 conv (reflect padding, bias) -> spatial logits (B, 1, H, W)."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.sa = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, padding_mode="reflect", bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return self.sa(pooled)


class CGAChannelAttention(nn.Module):
    """Global avg pool -> 1x1 conv (C -> C/r) -> ReLU -> 1x1 conv (C/r -> C) ->
    channel logits (B, C, 1, 1).
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.ca = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, bias=True),
            nn.ReLU(),
            nn.Conv2d(channels // reduction, channels, 1, bias=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ca(x.mean(dim=(2, 3), keepdim=True))


class CGAPixelAttention(nn.Module):
    """Interleave (x_c, coarse_c) per channel -> 7x7 grouped conv (groups = C, reflect) -> sigmoid."""

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.pa2 = nn.Conv2d(
            2 * channels,
            channels,
            kernel_size,
            padding=kernel_size // 2,
            padding_mode="reflect",
            groups=channels,
            bias=True,
        )

    def forward(self, x: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        pairs = torch.stack([x, coarse], dim=2).flatten(1, 2)
        return torch.sigmoid(self.pa2(pairs))


class ContentGuidedAttentionFusion(nn.Module):
    """s = skip + x -> CGA: sigmoid(pixel attention(s, spatial(s) + channel(s))) = w
    -> 1x1 conv(s + w skip + (1 - w) x).
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        require_positive(channels=channels, reduction=reduction)
        # the channel attention has channels // reduction hidden units
        require(
            channels // reduction >= 1, f"channels ({channels}) // reduction ({reduction}) must be at least 1"
        )
        self.sa = CGASpatialAttention()
        self.ca = CGAChannelAttention(channels, reduction)
        self.pa = CGAPixelAttention(channels)
        self.conv = nn.Conv2d(channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # DEA-Net calls CGAFusion(encoder, decoder): its first input is our skip.
        initial = skip + x
        coarse = self.sa(initial) + self.ca(initial)
        # The official fusion applies a second sigmoid to the pixel attention's output.
        weight = torch.sigmoid(self.pa(initial, coarse))
        return self.conv(initial + x + weight * (skip - x))
