import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require_positive


class SpatialTransformer(nn.Module):
    """Localisation net (conv -> pool -> ReLU x 2 -> adaptive pool 3x3 -> MLP) -> 2x3
    affine theta -> affine grid -> bilinear sampling.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        require_positive(channels=channels)
        # Layers of the PyTorch STN tutorial, made size-agnostic: same-padded convs, ceil-mode
        # pooling (any H, W >= 1) and an adaptive pool to the tutorial's 3x3 before the MLP.
        self.localization = nn.Sequential(
            nn.Conv2d(channels, 8, kernel_size=7, padding=3),
            nn.MaxPool2d(2, stride=2, ceil_mode=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 10, kernel_size=5, padding=2),
            nn.MaxPool2d(2, stride=2, ceil_mode=True),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(3),
        )
        self.fc_loc = nn.Sequential(nn.Linear(10 * 3 * 3, 32), nn.ReLU(inplace=True), nn.Linear(32, 3 * 2))
        # Start as the identity transform.
        nn.init.zeros_(self.fc_loc[2].weight)
        with torch.no_grad():
            self.fc_loc[2].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.fc_loc(self.localization(x).flatten(1)).view(-1, 2, 3)
        # F.affine_grid(theta, x.shape, align_corners=False) written out, so that an exported
        # graph follows the input size: pixel centres (2i + 1) / n - 1 times theta.
        # Grid and sampling in float32: sub-pixel coordinates lose accuracy in fp16/bf16.
        h, w = x.shape[-2:]
        xs = (torch.arange(w, device=x.device, dtype=torch.float32) * 2 + 1) / w - 1
        ys = (torch.arange(h, device=x.device, dtype=torch.float32) * 2 + 1) / h - 1
        # (x', y') = theta @ (x, y, 1) by broadcasting, not a batched matmul against one shared
        # grid (which makes torch.export guard the batch on != 1): (B, 2, H, W) -> (B, H, W, 2)
        t = theta.float().view(-1, 2, 3, 1, 1)
        grid = t[:, :, 0] * xs.view(1, 1, 1, w) + t[:, :, 1] * ys.view(1, 1, h, 1) + t[:, :, 2]
        grid = grid.permute(0, 2, 3, 1)
        out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.to(x.dtype)
