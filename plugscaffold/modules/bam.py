import torch
import torch.nn as nn

from .common import require, require_positive


class BAMChannelGate(nn.Module):
    """Global avg pool -> [FC (C -> C/r) -> BN1d -> ReLU] x n -> FC (C/r -> C) ->
    channel logits (B, C, 1, 1).
    """

    def __init__(self, channels: int, reduction: int = 16, num_layers: int = 1) -> None:
        super().__init__()
        require_positive(channels=channels, reduction=reduction, num_layers=num_layers)
        hidden = channels // reduction
        # the channel MLP has channels // reduction hidden units
        require(hidden >= 1, f"channels ({channels}) // reduction ({reduction}) must be at least 1")
        widths = [channels] + [hidden] * num_layers
        # Names as in the official gate_c Sequential (its parameter-free Flatten is
        # replaced by the mean over H and W in forward), so checkpoints load directly.
        self.gate_c = nn.Sequential()
        for i in range(num_layers):
            self.gate_c.add_module(f"gate_c_fc_{i}", nn.Linear(widths[i], widths[i + 1]))
            self.gate_c.add_module(f"gate_c_bn_{i + 1}", nn.BatchNorm1d(widths[i + 1]))
            self.gate_c.add_module(f"gate_c_relu_{i + 1}", nn.ReLU())
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Global average over the whole H x W map (the official code pools an H x H
        # window, which is only global for square inputs).
        logits = self.gate_c(x.mean(dim=(2, 3)))
        return logits.reshape(x.shape[0], x.shape[1], 1, 1)


class BAMSpatialGate(nn.Module):
    """1x1 conv (C -> C/r) -> BN -> ReLU -> [3x3 conv (dilation d) -> BN -> ReLU] x n
    -> 1x1 conv -> spatial logits (B, 1, H, W).
    """

    def __init__(
        self, channels: int, reduction: int = 16, dilation_conv_num: int = 2, dilation: int = 4
    ) -> None:
        super().__init__()
        require_positive(channels=channels, reduction=reduction, dilation=dilation)
        require(
            type(dilation_conv_num) is int and dilation_conv_num >= 0,
            f"dilation_conv_num ({dilation_conv_num!r}) must be a non-negative integer",
        )
        hidden = channels // reduction
        # the spatial branch has channels // reduction feature maps
        require(hidden >= 1, f"channels ({channels}) // reduction ({reduction}) must be at least 1")
        self.gate_s = nn.Sequential()
        self.gate_s.add_module("gate_s_conv_reduce0", nn.Conv2d(channels, hidden, kernel_size=1))
        self.gate_s.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(hidden))
        self.gate_s.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(dilation_conv_num):
            self.gate_s.add_module(
                f"gate_s_conv_di_{i}",
                nn.Conv2d(hidden, hidden, kernel_size=3, padding=dilation, dilation=dilation),
            )
            self.gate_s.add_module(f"gate_s_bn_di_{i}", nn.BatchNorm2d(hidden))
            self.gate_s.add_module(f"gate_s_relu_di_{i}", nn.ReLU())
        self.gate_s.add_module("gate_s_conv_final", nn.Conv2d(hidden, 1, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_s(x)


class BAM(nn.Module):
    """Channel gate (avg pool -> MLP with BN) and spatial gate (1x1 -> dilated 3x3
    convs -> 1x1) -> product -> sigmoid -> x * (1 + weights).
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        dilation: int = 4,
        combine: str = "product",
        num_layers: int = 1,
        dilation_conv_num: int = 2,
    ) -> None:
        super().__init__()
        require(
            combine in ("product", "sum"),
            f"combine ({combine!r}) must be 'product' (official code) or 'sum' (paper)",
        )
        self.combine = combine
        self.channel_att = BAMChannelGate(channels, reduction, num_layers)
        self.spatial_att = BAMSpatialGate(channels, reduction, dilation_conv_num, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel = self.channel_att(x)
        spatial = self.spatial_att(x)
        # (B, C, 1, 1) with (B, 1, H, W) broadcasts to the full map once; the official
        # code expands both branches to (B, C, H, W) first.
        logits = channel * spatial if self.combine == "product" else channel + spatial
        return x * (torch.sigmoid(logits) + 1)
