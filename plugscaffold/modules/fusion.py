import torch
import torch.nn as nn


class Concat(nn.Module):
    """cat([skip, x], dim=1): the classic UNet skip connection."""

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([skip, x], dim=1)


class Add(nn.Module):
    """skip + x (both inputs must have the same channels)."""

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return skip + x
