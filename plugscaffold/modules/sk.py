import torch
import torch.nn as nn

from .common import require, require_positive


class SelectiveKernelBranch(nn.Module):
    """3x3 grouped conv (dilation d, no bias) -> BN -> ReLU."""

    def __init__(self, channels: int, dilation: int, groups: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            channels,
            channels,
            kernel_size=3,
            padding=dilation,
            dilation=dilation,
            groups=groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SelectiveKernelSelect(nn.Module):
    """Pooled sum of branches -> 1x1 conv (C -> d) -> BN -> ReLU -> 1x1 conv (d ->
    M*C) -> softmax over the M branches.
    """

    def __init__(self, channels: int, branches: int, attn_channels: int) -> None:
        super().__init__()
        self.branches = branches
        self.fc_reduce = nn.Conv2d(channels, attn_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(attn_channels)
        self.act = nn.ReLU()
        self.fc_select = nn.Conv2d(attn_channels, channels * branches, kernel_size=1, bias=False)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        # pooled: (B, C, 1, 1) -> (B, M, C, 1, 1); output channel m * C + c is branch m's logit for c.
        logits = self.fc_select(self.act(self.bn(self.fc_reduce(pooled))))
        b = logits.shape[0]
        return torch.softmax(logits.reshape(b, self.branches, -1, 1, 1), dim=1)


class SelectiveKernelConv(nn.Module):
    """M branches (3x3 grouped conv, dilation 1..M -> BN -> ReLU) -> sum -> global
    avg pool -> FC -> BN -> ReLU -> FC per branch -> softmax over branches ->
    weighted sum.
    """

    def __init__(
        self,
        channels: int,
        branches: int = 2,
        groups: int = 32,
        reduction: int = 16,
        min_channels: int = 32,
    ) -> None:
        super().__init__()
        require_positive(
            channels=channels,
            branches=branches,
            groups=groups,
            reduction=reduction,
            min_channels=min_channels,
        )
        # there is a kernel to select
        require(branches >= 2, f"branches ({branches}) must be at least 2")
        # every branch is a grouped convolution
        require(channels % groups == 0, f"channels ({channels}) must be divisible by groups ({groups})")
        # d = max(C / r, L) in the paper; branch m is the paper's (2m + 3)x(2m + 3) kernel,
        # taken as a 3x3 kernel with dilation m + 1.
        attn_channels = max(channels // reduction, min_channels)
        self.paths = nn.ModuleList(
            SelectiveKernelBranch(channels, dilation=m + 1, groups=groups) for m in range(branches)
        )
        self.attn = SelectiveKernelSelect(channels, branches, attn_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [path(x) for path in self.paths]
        fused = feats[0]
        for feat in feats[1:]:
            fused = fused + feat
        weights = self.attn(fused.mean(dim=(2, 3), keepdim=True))
        out = feats[0] * weights[:, 0]
        for m in range(1, len(feats)):
            out = out + feats[m] * weights[:, m]
        return out
