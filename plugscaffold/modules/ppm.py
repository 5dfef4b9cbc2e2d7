import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require, require_positive


class PyramidPoolingModule(nn.Module):
    """[x | 4 x (adaptive avg pool to 1/2/3/6 bins -> 1x1 conv (C/4) -> BN -> ReLU ->
    bilinear up)] -> concat -> 3x3 conv (C) -> BN -> ReLU.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        require_positive(channels=channels)
        # each of the 4 pyramid levels is reduced to channels / 4
        require(channels % 4 == 0, f"channels ({channels}) must be divisible by 4")
        bins = (1, 2, 3, 6)
        reduction = channels // len(bins)
        self.features = nn.ModuleList(
            [
                nn.Sequential(
                    nn.AdaptiveAvgPool2d(b),
                    nn.Conv2d(channels, reduction, kernel_size=1, bias=False),
                    nn.BatchNorm2d(reduction),
                    nn.ReLU(inplace=True),
                )
                for b in bins
            ]
        )
        # PSPNet's 3x3 conv -> BN -> ReLU after the concat, here back to the input width.
        self.bottleneck = nn.Sequential(
            nn.Conv2d(2 * channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] < 2:
            raise ValueError(
                "The 1-bin pyramid level applies BatchNorm to a 1x1 map, which needs "
                "a batch of at least 2 in training mode, but got a batch of "
                f"{x.shape[0]}; train with 2 or more images, or call eval()."
            )
        size = x.shape[-2:]
        levels = [x]
        for level in self.features:
            levels.append(F.interpolate(level(x), size, mode="bilinear", align_corners=True))
        return self.bottleneck(torch.cat(levels, dim=1))
