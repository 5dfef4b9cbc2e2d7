import torch
import torch.nn as nn

from .common import require, require_positive


class SqueezeExcite(nn.Module):
    """Avg pool -> FC (C -> C/r) -> ReLU -> FC (C/r -> C) -> sigmoid -> x * weights."""

    def __init__(self, channels: int, reduction: int = 16, bias: bool = True) -> None:
        super().__init__()
        require_positive(channels=channels, reduction=reduction)
        hidden = channels // reduction  # the bottleneck's units
        require(hidden >= 1, f"channels ({channels}) // reduction ({reduction}) is 0")
        # fc.0 / fc.2 carry the weights, as in the common PyTorch SELayer state_dict.
        # bias=True is the authors' Caffe models (InnerProduct layers with their bias);
        # bias=False is moskomule/senet.pytorch's SELayer.
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=bias),
            nn.ReLU(),
            nn.Linear(hidden, channels, bias=bias),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=(2, 3))
        weights = self.fc(squeezed)
        return x * weights.reshape(x.shape[0], x.shape[1], 1, 1)
