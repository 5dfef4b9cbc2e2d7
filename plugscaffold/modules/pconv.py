import torch
import torch.nn as nn


class PartialConv(nn.Module):
    """[1x1 conv C_in -> C_out if they differ] -> 3x3 conv on the first C_out // n_div channels -> concat the untouched rest."""

    def __init__(self, in_channels: int, out_channels: int, n_div: int = 4) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("n_div", n_div)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be a positive integer.")
        self.dim_conv3 = out_channels // n_div
        if self.dim_conv3 < 1:
            raise ValueError(
                f"out_channels ({out_channels}) // n_div ({n_div}) must be at least 1 "
                f"because the partial convolution runs on out_channels // n_div channels."
            )
        self.proj = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else None
        )
        self.partial_conv3 = nn.Conv2d(self.dim_conv3, self.dim_conv3, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            x = self.proj(x)
        return torch.cat([self.partial_conv3(x[:, : self.dim_conv3]), x[:, self.dim_conv3 :]], dim=1)
