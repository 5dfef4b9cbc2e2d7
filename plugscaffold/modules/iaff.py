import torch
import torch.nn as nn

from .aff import aff_check_channels, aff_context_branch


class IterativeAttentionalFeatureFusion(nn.Module):
    """MS-CAM(x + skip) = w1 -> z = w1 x + (1 - w1) skip -> MS-CAM2(z) = w2 -> w2 x + (1 - w2) skip."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        inter_channels = aff_check_channels(channels, reduction)
        self.local_att = aff_context_branch(channels, inter_channels, pooled=False)
        self.global_att = aff_context_branch(channels, inter_channels, pooled=True)
        self.local_att2 = aff_context_branch(channels, inter_channels, pooled=False)
        self.global_att2 = aff_context_branch(channels, inter_channels, pooled=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        diff = x - skip
        mixed = x + skip
        weight = torch.sigmoid(self.local_att(mixed) + self.global_att(mixed))
        initial = skip + weight * diff
        # The second attention has its own global branch (global_att2), as in the paper and
        # the authors' MXNet code; the PyTorch port in the same repository reuses global_att.
        weight2 = torch.sigmoid(self.local_att2(initial) + self.global_att2(initial))
        return skip + weight2 * diff
