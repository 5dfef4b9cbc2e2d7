import torch
import torch.nn as nn


class SqueezeExcite(nn.Module):
    """Global avg pool -> FC (C -> C/r) -> ReLU -> FC (C/r -> C) -> sigmoid -> x * weights."""

    def __init__(self, channels: int, reduction: int = 16, bias: bool = True) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("reduction", reduction)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be a positive integer.")
        hidden = channels // reduction
        if hidden < 1:
            raise ValueError(
                f"channels ({channels}) // reduction ({reduction}) must be at least 1 "
                f"because the bottleneck FC layer has channels // reduction units."
            )
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
