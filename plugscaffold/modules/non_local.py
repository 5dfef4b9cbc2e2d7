import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import require, require_positive


class NonLocalBlock2d(nn.Module):
    """theta = 1x1 conv; phi, g = 1x1 convs of the 2x2 max-pooled input ->
    softmax(theta phi^T / sqrt(d)) g -> 1x1 conv -> BN (zero init) -> + x.

    form="official": as facebookresearch/video-nonlocal-net (pool, then phi and g;
    scaled by d ** -0.5, d = inter_channels). form="alexhex7": as
    AlexHex7/Non-local_pytorch (phi and g, then pool; no scale).
    """

    def __init__(
        self,
        channels: int,
        inter_channels: int | None = None,
        sub_sample: bool = True,
        bn_layer: bool = True,
        form: str = "official",
    ) -> None:
        super().__init__()
        require(form in ("official", "alexhex7"), f"form must be 'official' or 'alexhex7', got {form!r}")
        require_positive(channels=channels)
        if inter_channels is None:
            inter_channels = max(channels // 2, 1)
        require_positive(inter_channels=inter_channels)
        self.inter_channels = inter_channels
        self.sub_sample = bool(sub_sample)
        self.scale = inter_channels**-0.5 if form == "official" else 1.0
        # official: the input is pooled once for phi and g; alexhex7: each is pooled after its conv
        pool_first = self.sub_sample and form == "official"
        self.pool = nn.MaxPool2d(kernel_size=2) if pool_first else nn.Identity()
        self.theta = nn.Conv2d(channels, inter_channels, kernel_size=1)
        phi = nn.Conv2d(channels, inter_channels, kernel_size=1)
        g = nn.Conv2d(channels, inter_channels, kernel_size=1)
        if self.sub_sample and form == "alexhex7":
            # Sequential(conv, pool) keeps the keys phi.0.* / g.0.* of AlexHex7's state_dict.
            phi = nn.Sequential(phi, nn.MaxPool2d(kernel_size=2))
            g = nn.Sequential(g, nn.MaxPool2d(kernel_size=2))
        self.phi = phi
        self.g = g
        # W (the output transform): the official code's name, kept for its state_dict keys
        if bn_layer:
            self.W = nn.Sequential(
                nn.Conv2d(inter_channels, channels, kernel_size=1),
                nn.BatchNorm2d(channels),
            )
            last = self.W[1]
        else:
            self.W = nn.Conv2d(inter_channels, channels, kernel_size=1)
            last = self.W
        # Zero init of the last layer: the block starts as the identity.
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        if self.sub_sample and (h < 2 or w < 2):
            raise ValueError(
                "NonLocalBlock2d with sub_sample=True needs H and W of at least 2 "
                f"for its 2x2 max pooling, but got {h}x{w}."
            )
        # Embedded Gaussian: y_i = sum_j softmax_j(theta_i . phi_j * scale) g_j, which is
        # attention with that scale. In channels_last the 1x1 conv outputs flatten to contiguous
        # (B, L, d) rows, the layout the fused attention kernel needs, without extra copies.
        inp = x.contiguous(memory_format=torch.channels_last)
        pooled = self.pool(inp)
        query = self.theta(inp).flatten(2).transpose(1, 2).unsqueeze(1)
        key = self.phi(pooled).flatten(2).transpose(1, 2).unsqueeze(1)
        value = self.g(pooled).flatten(2).transpose(1, 2).unsqueeze(1)
        y = F.scaled_dot_product_attention(query, key, value, scale=self.scale)
        y = y.squeeze(1).transpose(1, 2).reshape(b, self.inter_channels, h, w)
        return x + self.W(y)
