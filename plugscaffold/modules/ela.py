import torch
import torch.nn as nn


class EfficientLocalAttention(nn.Module):
    """Strip avg pools (over W, over H) -> shared 1D conv (k) -> GroupNorm -> sigmoid -> x * a_h * a_w."""

    def __init__(
        self, channels: int, kernel_size: int = 7, num_groups: int = 16, conv_group_width: int = 1
    ) -> None:
        super().__init__()
        for name, value in (
            ("channels", channels),
            ("kernel_size", kernel_size),
            ("num_groups", num_groups),
            ("conv_group_width", conv_group_width),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be a positive integer.")
        if kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size ({kernel_size}) must be odd so that the 1D convolution keeps the "
                f"length of the pooled strips."
            )
        if channels % num_groups != 0:
            raise ValueError(
                f"channels ({channels}) must be divisible by num_groups ({num_groups}) " f"of the GroupNorm."
            )
        if channels % conv_group_width != 0:
            raise ValueError(
                f"channels ({channels}) must be divisible by conv_group_width ({conv_group_width}), "
                f"the number of channels in each group of the 1D convolution."
            )
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
