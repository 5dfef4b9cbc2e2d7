import torch
import torch.nn as nn

from .common import require, require_positive


class ASPPAtrousConv(nn.Sequential):
    """3x3 atrous conv (dilation r) -> BN -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class ASPPImagePooling(nn.Sequential):
    """Global average pool -> 1x1 conv -> BN -> ReLU -> broadcast back to H x W."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] < 2:
            raise ValueError(
                "The ASPP image-pooling branch applies BatchNorm to a 1x1 map, "
                "which needs a batch of at least 2 in training mode, but got a "
                f"batch of {x.shape[0]}; train with 2 or more images, or call eval()."
            )
        pooled = x.mean((2, 3), keepdim=True)
        # enumerate(self), not list(self)[1:], which TorchScript cannot type; layer 0, the
        # AdaptiveAvgPool2d(1), is the mean above
        for i, layer in enumerate(self):
            if i > 0:
                pooled = layer(pooled)
        # Bilinear upsampling of a 1x1 map is a broadcast.
        return pooled.expand(-1, -1, x.shape[2], x.shape[3])


class AtrousSpatialPyramidPooling(nn.Module):
    """[1x1 conv | 3 x 3x3 atrous conv (rates 6/12/18) | image pooling] (each -> BN
    -> ReLU) -> concat -> 1x1 conv -> BN -> ReLU -> dropout.
    """

    def __init__(self, channels: int, output_stride: int = 16, dropout: float = 0.5) -> None:
        super().__init__()
        require_positive(channels=channels)
        # atrous rates 6, 12, 18 at output stride 16; 12, 24, 36 at 8
        require(output_stride in (8, 16), f"output_stride ({output_stride!r}) must be 16 or 8")
        require(0.0 <= dropout < 1.0, f"dropout ({dropout}) must be in [0, 1)")
        rates = (6, 12, 18) if output_stride == 16 else (12, 24, 36)
        branches = [
            nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        ]
        branches += [ASPPAtrousConv(channels, channels, rate) for rate in rates]
        branches.append(ASPPImagePooling(channels, channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))
