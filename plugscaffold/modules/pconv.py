import torch
import torch.nn as nn

from .common import require, require_positive


class PartialConv(nn.Module):
    """[1x1 conv C_in -> C_out if they differ] -> 3x3 conv on the first C_out //
    n_div channels -> concat the untouched rest.
    """

    def __init__(self, in_channels: int, out_channels: int, n_div: int = 4) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, out_channels=out_channels, n_div=n_div)
        self.dim_conv3 = out_channels // n_div
        # the partial convolution runs on out_channels // n_div channels
        require(self.dim_conv3 >= 1, f"out_channels ({out_channels}) // n_div ({n_div}) must be at least 1")
        self.proj = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else None
        )
        self.partial_conv3 = nn.Conv2d(self.dim_conv3, self.dim_conv3, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            x = self.proj(x)
        return torch.cat([self.partial_conv3(x[:, : self.dim_conv3]), x[:, self.dim_conv3 :]], dim=1)
