import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require


def carafe_reassemble(
    x: torch.Tensor, kernels: torch.Tensor, up_kernel: int, groups: int, scale: int
) -> torch.Tensor:
    """Weighted sum of each k x k neighbourhood (zero outside x) with its sub-pixel's normalised kernel."""
    n, c, h, w = x.shape
    k2 = up_kernel * up_kernel
    s2 = scale * scale
    r = up_kernel // 2
    # kernels: (n, groups * k2 * s2, h, w), channel (g, kernel tap, sub-pixel row, sub-pixel column):
    # the content encoder's layout before the pixel shuffle, softmax already taken over the taps.
    weights = kernels.to(x.dtype).view(n, groups, 1, k2, s2, h, w)
    padded = F.pad(x, (r, r, r, r)).view(n, groups, c // groups, 1, h + 2 * r, w + 2 * r)
    # One shifted view of x per kernel tap, multiplied into all scale**2 sub-pixels at once:
    # out[n, g, c, (i, j), y, x] = sum_t x[n, g, c, y + dy_t - r, x + dx_t - r] * w[n, g, t, (i, j), y, x]
    out = padded[..., :h, :w] * weights[:, :, :, 0]
    for t in range(1, k2):
        dy, dx = divmod(t, up_kernel)
        out.addcmul_(padded[..., dy : dy + h, dx : dx + w], weights[:, :, :, t])
    out = out.reshape(n, c, scale, scale, h, w).permute(0, 1, 4, 2, 5, 3)
    return out.reshape(n, c, h * scale, w * scale)


class CARAFEUpsample(nn.Module):
    """1x1 conv -> kxk conv (-> k_up^2 * groups * scale^2) -> softmax over k_up^2 -> k_up^2 reassembly."""

    def __init__(
        self,
        channels: int,
        scale_factor: int = 2,
        up_kernel: int = 5,
        up_group: int = 1,
        encoder_kernel: int = 3,
        encoder_dilation: int = 1,
        compressed_channels: int = 64,
    ) -> None:
        super().__init__()
        for name, value in (
            ("channels", channels),
            ("scale_factor", scale_factor),
            ("up_group", up_group),
            ("encoder_dilation", encoder_dilation),
            ("compressed_channels", compressed_channels),
        ):
            require(value >= 1, f"{name} ({value}) must be a positive integer")
        for name, value in (("up_kernel", up_kernel), ("encoder_kernel", encoder_kernel)):
            require(value >= 1 and value % 2 != 0, f"{name} ({value}) must be a positive odd number")
        # each channel group is reassembled with its own kernels
        require(channels % up_group == 0, f"channels ({channels}) must be divisible by up_group ({up_group})")
        self.channels = channels
        self.scale_factor = scale_factor
        self.up_kernel = up_kernel
        self.up_group = up_group
        self.channel_compressor = nn.Conv2d(channels, compressed_channels, 1)
        self.content_encoder = nn.Conv2d(
            compressed_channels,
            up_kernel * up_kernel * up_group * scale_factor * scale_factor,
            encoder_kernel,
            padding=(encoder_kernel - 1) * encoder_dilation // 2,
            dilation=encoder_dilation,
        )
        nn.init.xavier_uniform_(self.channel_compressor.weight)
        nn.init.zeros_(self.channel_compressor.bias)
        nn.init.normal_(self.content_encoder.weight, std=0.001)
        nn.init.zeros_(self.content_encoder.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernels = self.content_encoder(self.channel_compressor(x))
        n, _, h, w = kernels.shape
        k2 = self.up_kernel * self.up_kernel
        s2 = self.scale_factor * self.scale_factor
        # Softmax over the taps of each (group, sub-pixel) kernel, computed in float32; same
        # as softmax after the pixel shuffle, which only moves the sub-pixel index to space.
        kernels = torch.softmax(kernels.view(n, self.up_group, k2, s2, h, w).float(), dim=2)
        return carafe_reassemble(x, kernels, self.up_kernel, self.up_group, self.scale_factor)
