import torch
import torch.nn as nn

from .common import require, require_positive


class EfficientLocalAttention(nn.Module):
    """Strip avg pools (over W, over H) -> shared 1D conv (k) -> GroupNorm -> sigmoid -> x * a_h * a_w."""

    def __init__(
        self, channels: int, kernel_size: int = 7, num_groups: int = 16, conv_group_width: int = 1
    ) -> None:
        super().__init__()
        require_positive(
            channels=channels,
            kernel_size=kernel_size,
            num_groups=num_groups,
            conv_group_width=conv_group_width,
        )
        # the 1D convolution keeps the length of the pooled strips
        require(kernel_size % 2 != 0, f"kernel_size ({kernel_size}) must be odd")
        # num_groups of the GroupNorm; conv_group_width channels in each group of the 1D conv
        for name, value in (("num_groups", num_groups), ("conv_group_width", conv_group_width)):
            require(channels % value == 0, f"channels ({channels}) must be divisible by {name} ({value})")
        # conv_group_width 1 is depthwise (ELA-T/B); 8 gives channels / 8 groups (ELA-S/L).
        self.conv = nn.Conv1d(
            channels,
            channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=channels // conv_group_width,
            bias=False,
        )
        self.gn = nn.GroupNorm(num_groups, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The same conv and GroupNorm serve both directions; GroupNorm statistics are
        # taken over each strip separately.
        along_h = torch.sigmoid(self.gn(self.conv(x.mean(dim=3))))  # (B, C, H)
        along_w = torch.sigmoid(self.gn(self.conv(x.mean(dim=2))))  # (B, C, W)
        return x * along_h.unsqueeze(3) * along_w.unsqueeze(2)
