import torch
import torch.nn as nn
import torch.nn.functional as F


class DySample(nn.Module):
    """1x1 conv offsets ('pl': on pixel-shuffled x) * 0.25 (dyscope: * 0.5 * sigmoid(1x1 conv)) + init_pos -> grid_sample (bilinear, border)."""

    def __init__(
        self,
        in_channels: int,
        scale: int = 2,
        style: str = "lp",
        groups: int = 4,
        dyscope: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("scale", scale),
            ("groups", groups),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be a positive integer.")
        if style not in ("lp", "pl"):
            raise ValueError(f"style ({style!r}) must be 'lp' or 'pl'.")
        if in_channels % groups != 0:
            raise ValueError(
                f"in_channels ({in_channels}) must be divisible by groups ({groups}) "
                f"because the input is split into groups that each get their own "
                f"sampling grid."
            )
        conv_in = in_channels
        conv_out = 2 * groups * scale * scale
        if style == "pl":
            if in_channels % (scale * scale) != 0:
                raise ValueError(
                    f"in_channels ({in_channels}) must be divisible by scale**2 "
                    f"({scale * scale}) because style 'pl' pixel-shuffles the input "
                    f"before the offset convolution."
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

    def _group_major(self, t: torch.Tensor) -> torch.Tensor:
        """Reorder a (xy, group, ...) leading dimension to (group, xy, ...)."""
        return t.reshape(2, self.groups, -1).transpose(0, 1).reshape(t.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s, g = self.scale, self.groups
        s2 = s * s
        work = torch.promote_types(x.dtype, torch.float32)
        # 'pl': a 1x1 conv on pixel_shuffle(x) followed by pixel_unshuffle is the same
        # map as a 1x1 conv on x viewed as (B, C / s^2, s^2 * H, W)
        feat = x.reshape(b, c // s2, s2 * h, w) if self.style == "pl" else x
        # offset channels are produced group-major, (B, G, xy, s^2, H, W), so that
        # batch and group merge into grid_sample's N without another copy
        weight = self._group_major(self.offset.weight)
        bias = self._group_major(self.offset.bias)
        raw = F.conv2d(feat, weight, bias).contiguous().view(b, g, 2, s2, h, w)
        init_pos = self._group_major(self.init_pos).view(1, g, 2, s2, 1, 1).to(work)
        if hasattr(self, "scope"):
            gate = torch.sigmoid(F.conv2d(feat, self._group_major(self.scope.weight)))
            gate = gate.contiguous().view(b, g, 2, s2, h, w)
            offset = torch.add(init_pos, raw.to(work) * gate.to(work), alpha=0.5)
        else:
            offset = torch.add(init_pos, raw.to(work), alpha=0.25)
        # pixel centre + offset, normalised for grid_sample(align_corners=False):
        # u = (p + 0.5 + d) / (W / 2) - 1, x first, then y
        centre_x = torch.arange(w, device=x.device, dtype=work) + 0.5
        centre_y = torch.arange(h, device=x.device, dtype=work) + 0.5
        centre = torch.stack([centre_x.view(1, w).expand(h, w), centre_y.view(h, 1).expand(h, w)]).view(
            1, 1, 2, 1, h, w
        )
        half = torch.linspace(w / 2, h / 2, 2, device=x.device, dtype=work)
        minus_one = torch.full((), -1.0, device=x.device, dtype=work)
        grid = torch.addcdiv(minus_one, offset + centre, half.view(1, 1, 2, 1, 1, 1))
        # (B, G, xy, a, b, H, W) -> (B * G, xy, H * a, W * b): the pixel shuffle, as one
        # copy; grid_sample then reads x and y from separate planes: (B * G, sH, sW, xy)
        grid = grid.view(b, g, 2, s, s, h, w).permute(0, 1, 2, 5, 3, 6, 4)
        grid = grid.reshape(b * g, 2, s * h, s * w).permute(0, 2, 3, 1)
        src = x.reshape(b * g, c // g, h, w).to(work)
        out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return out.reshape(b, c, s * h, s * w).to(x.dtype)
