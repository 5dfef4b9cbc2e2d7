import torch
import torch.nn as nn

from .common import require, require_positive


class SimAM(nn.Module):
    """Energy (x - mean)^2 / (4 (var + lambda)) + 0.5 -> sigmoid -> x * weights (parameter-free)."""

    def __init__(self, channels: int, e_lambda: float = 1e-4) -> None:
        super().__init__()
        require_positive(channels=channels)
        require(
            type(e_lambda) in (int, float) and e_lambda > 0,
            f"e_lambda ({e_lambda!r}) must be a positive number",
        )
        self.e_lambda = float(e_lambda)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Variance over the other n = H*W - 1 neurons of each channel; a 1x1 map has no
        # other neurons (the official code divides 0 by 0 there), so n is at least 1.
        n = max(x.shape[2] * x.shape[3] - 1, 1)
        d = (x - x.mean(dim=(2, 3), keepdim=True)).square()
        # 1 / (4 (var + lambda)) per channel, so the full-size op is a product.
        scale = 0.25 / (d.sum(dim=(2, 3), keepdim=True) / n + self.e_lambda)
        return x * torch.sigmoid(d * scale + 0.5)
