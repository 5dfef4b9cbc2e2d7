from typing import Optional

import torch
import torch.nn as nn

from .common import require


class Serial(nn.Module):
    """x -> step 1 -> step 2 -> ...: each named step receives the previous step's output."""

    def __init__(self, **steps: nn.Module) -> None:
        super().__init__()
        require(len(steps) >= 2, f"Serial needs at least two steps, got {len(steps)}")
        for name, step in steps.items():
            self.add_module(name, step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.children():
            x = step(x)
        return x


class Parallel(nn.Module):
    """Named branches on the same input -> sum, or -> merge(branch outputs)."""

    def __init__(self, merge: Optional[nn.Module] = None, **branches: nn.Module) -> None:
        super().__init__()
        require(len(branches) >= 2, f"Parallel needs at least two branches, got {len(branches)}")
        self.branches = nn.ModuleDict(branches)
        self.merge = merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.branches.values()]
        if self.merge is not None:
            return self.merge(*outputs)
        total = outputs[0]
        for output in outputs[1:]:
            total = total + output
        return total


class Residual(nn.Module):
    """x + body(x), or merge(body(x), x) when a fusion module does the add."""

    def __init__(self, body: nn.Module, merge: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.body = body
        self.merge = merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merge is not None:
            return self.merge(self.body(x), x)
        return x + self.body(x)


class ConcatProject(nn.Module):
    """cat(inputs, dim=1) -> 1x1 conv back to out_channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.cat(inputs, dim=1))


class FuseProject(nn.Module):
    """fusion(a, b) -> 1x1 conv: a fusion whose output channels differ, projected back."""

    def __init__(self, fusion: nn.Module, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.fusion = fusion
        self.proj = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.proj(self.fusion(x, skip))
