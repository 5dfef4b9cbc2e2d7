import torch
import torch.nn as nn

from .common import require, require_positive


class GlobalContextBlock(nn.Module):
    """Context (1x1 conv -> softmax over HW -> weighted sum of x) -> 1x1 conv (C ->
    rC) -> LayerNorm -> ReLU -> 1x1 conv (rC -> C) -> x + term.
    """

    def __init__(
        self,
        channels: int,
        ratio: float = 1.0 / 16,
        pooling_type: str = "att",
        fusion_types: str | tuple[str, ...] = ("channel_add",),
    ) -> None:
        super().__init__()
        require_positive(channels=channels)
        require(type(ratio) in (int, float) and ratio > 0, f"ratio ({ratio!r}) must be a positive number")
        planes = int(channels * ratio)
        # the transform has int(channels * ratio) hidden channels
        require(planes >= 1, f"channels ({channels}) * ratio ({ratio}) must be at least 1")
        require(pooling_type in ("att", "avg"), f"pooling_type ({pooling_type!r}) must be 'att' or 'avg'")
        if isinstance(fusion_types, str):
            fusion_types = (fusion_types,)
        fusion_types = tuple(fusion_types)
        unknown = [f for f in fusion_types if f not in ("channel_add", "channel_mul")]
        fusions = "'channel_add' and 'channel_mul'"
        require(not unknown and len(fusion_types) > 0, f"fusion_types must select from {fusions}")
        self.pooling_type = pooling_type
        self.fusion_types = fusion_types
        if pooling_type == "att":
            self.conv_mask = nn.Conv2d(channels, 1, kernel_size=1)
            nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(self.conv_mask.bias)
        else:
            self.conv_mask = None
        self.channel_add_conv = self._transform(channels, planes) if "channel_add" in fusion_types else None
        self.channel_mul_conv = self._transform(channels, planes) if "channel_mul" in fusion_types else None

    @staticmethod
    def _transform(channels: int, planes: int) -> nn.Sequential:
        # Indices 0, 1, 3 carry the weights, as in the reference state_dict; the last conv starts
        # at zero so the block starts as the identity.
        transform = nn.Sequential(
            nn.Conv2d(channels, planes, kernel_size=1),
            nn.LayerNorm([planes, 1, 1]),
            nn.ReLU(),
            nn.Conv2d(planes, channels, kernel_size=1),
        )
        nn.init.zeros_(transform[3].weight)
        nn.init.zeros_(transform[3].bias)
        return transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], x.shape[1]
        if self.conv_mask is not None:
            weights = torch.softmax(self.conv_mask(x).reshape(b, 1, -1), dim=-1)
            context = torch.matmul(x.reshape(b, c, -1), weights.transpose(1, 2))
            context = context.reshape(b, c, 1, 1)
        else:
            context = x.mean(dim=(2, 3), keepdim=True)
        out = x
        if self.channel_mul_conv is not None:
            out = out * torch.sigmoid(self.channel_mul_conv(context))
        if self.channel_add_conv is not None:
            out = out + self.channel_add_conv(context)
        return out
