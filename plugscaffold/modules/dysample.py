import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require, require_positive


class DySample(nn.Module):
    """1x1 conv offsets ('pl': on pixel-shuffled x) * 0.25 (dyscope: * 0.5 *
    sigmoid(1x1 conv)) + init_pos -> grid_sample (bilinear, border).
    """

    def __init__(
        self,
        in_channels: int,
        scale: int = 2,
        style: str = "lp",
        groups: int = 4,
        dyscope: bool = False,
    ) -> None:
        super().__init__()
        require_positive(in_channels=in_channels, scale=scale, groups=groups)
        require(style in ("lp", "pl"), f"style ({style!r}) must be 'lp' or 'pl'")
        # each group of channels gets its own sampling grid
        require(
            in_channels % groups == 0, f"in_channels ({in_channels}) must be divisible by groups ({groups})"
        )
        conv_in = in_channels
        conv_out = 2 * groups * scale * scale
        if style == "pl":
            # 'pl' pixel-shuffles the input before the offset convolution
            s2 = scale * scale
            require(
                in_channels % s2 == 0, f"in_channels ({in_channels}) must be divisible by scale**2 ({s2})"
            )
            conv_in = in_channels // (scale * scale)
            conv_out = 2 * groups
        self.scale = scale
        self.style = style
        self.groups = groups
        self.offset = nn.Conv2d(conv_in, conv_out, 1)
        nn.init.normal_(self.offset.weight, mean=0.0, std=0.001)
        nn.init.zeros_(self.offset.bias)
        if dyscope:
            self.scope = nn.Conv2d(conv_in, conv_out, 1, bias=False)
            nn.init.zeros_(self.scope.weight)
        # channel layout (xy, group, row a, column b): x varies with b, y with a
        steps = (torch.arange(scale, dtype=torch.float32) - (scale - 1) / 2) / scale
        pos = torch.stack(
            [
                steps.view(1, scale).expand(scale, scale),
                steps.view(scale, 1).expand(scale, scale),
            ]
        )
        pos = pos.unsqueeze(1).expand(2, groups, scale, scale)
        self.register_buffer("init_pos", pos.reshape(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s, g = self.scale, self.groups
        work = torch.promote_types(x.dtype, torch.float32)
        # 'pl': a 1x1 conv on pixel_shuffle(x) followed by pixel_unshuffle is the same
        # map as a 1x1 conv on x viewed as (B, C / s^2, s^2 * H, W)
        feat = x.reshape(b, c // (s * s), s * s * h, w) if self.style == "pl" else x
        # offsets in the official channel order (xy, group, a, b): 0.25 * conv + init_pos
        if hasattr(self, "scope"):
            offset = self.offset(feat) * torch.sigmoid(self.scope(feat))
            offset = torch.add(self.init_pos, offset.reshape(b, -1, h, w), alpha=0.5)
        elif self.style == "lp":
            # 0.25 * conv(x) + init_pos as one conv: weights 0.25 * W, bias 0.25 * b +
            # init_pos; the same affine map, one full-size pass fewer (tested against the
            # plain chain); conv_bias is a local so that TorchScript narrows its Optional
            conv_bias = self.offset.bias
            if conv_bias is None:
                raise ValueError("DySample's offset convolution needs its bias.")
            bias = torch.add(self.init_pos.flatten(), conv_bias, alpha=0.25)
            offset = F.conv2d(feat, self.offset.weight * 0.25, bias)
        else:  # 'pl': init_pos varies over the s^2 sub-positions, which are rows here
            offset = torch.add(self.init_pos, self.offset(feat).reshape(b, -1, h, w), alpha=0.25)
        offset = offset.reshape(b, 2, -1, h, w).to(work)
        # grid_sample(align_corners=False) reads u = (p + 0.5 + d) / (W / 2) - 1, x first:
        # the pixel-centre part is computed once per size, then one pass adds d / (W / 2)
        centre_x = torch.arange(w, device=x.device, dtype=work) + 0.5
        centre_y = torch.arange(h, device=x.device, dtype=work) + 0.5
        centre = torch.stack([centre_x.view(1, w).expand(h, w), centre_y.view(h, 1).expand(h, w)])
        # W / 2 and H / 2 from the last pixel centres: tensors that follow the input size in a
        # traced or exported graph (torch.tensor([w / 2, h / 2]) would be a constant there)
        half = (torch.stack([centre_x[-1], centre_y[-1]]) + 0.5).view(1, 2, 1, 1, 1) / 2
        grid = torch.addcdiv(centre.view(1, 2, 1, h, w) / half - 1, offset, half)
        # pixel shuffle to (B, xy, G, sH, sW), then one copy to grid_sample's (B * G, sH, sW, xy)
        grid = F.pixel_shuffle(grid.reshape(b, -1, h, w), s).reshape(b, 2, g, s * h, s * w)
        grid = grid.permute(0, 2, 3, 4, 1).reshape(b * g, s * h, s * w, 2)
        src = x.reshape(b * g, c // g, h, w).to(work)
        out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return out.reshape(b, c, s * h, s * w).to(x.dtype)
