import torch
import torch.nn as nn

from .common import require, require_positive


def aff_check_channels(channels: int, reduction: int) -> int:
    """Validate (channels, reduction) of an MS-CAM and return its bottleneck width channels // reduction."""
    require_positive(channels=channels, reduction=reduction)
    inter_channels = channels // reduction
    # the attention bottleneck has channels // reduction units
    require(inter_channels >= 1, f"channels ({channels}) // reduction ({reduction}) must be at least 1")
    return inter_channels


def aff_context_branch(channels: int, inter_channels: int, pooled: bool) -> nn.Sequential:
    """[global avg pool ->] 1x1 conv (C -> C/r) -> BN -> ReLU -> 1x1 conv (C/r -> C) -> BN."""
    layers = [nn.AdaptiveAvgPool2d(1)] if pooled else []
    layers += [
        nn.Conv2d(channels, inter_channels, kernel_size=1),
        nn.BatchNorm2d(inter_channels),
        nn.ReLU(),
        nn.Conv2d(inter_channels, channels, kernel_size=1),
        nn.BatchNorm2d(channels),
    ]
    return nn.Sequential(*layers)


class AttentionalFeatureFusion(nn.Module):
    """x + skip -> MS-CAM (local 1x1 bottleneck + global pooled bottleneck ->
    sigmoid) = w -> 2 (w x + (1 - w) skip).
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        inter_channels = aff_check_channels(channels, reduction)
        self.local_att = aff_context_branch(channels, inter_channels, pooled=False)
        self.global_att = aff_context_branch(channels, inter_channels, pooled=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        mixed = x + skip
        weight = torch.sigmoid(self.local_att(mixed) + self.global_att(mixed))
        # 2 * (w * x + (1 - w) * skip), written with one product
        return 2 * (skip + weight * (x - skip))
