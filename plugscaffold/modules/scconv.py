import torch
import torch.nn as nn

from .common import require, require_positive


class SpatialReconstructionUnit(nn.Module):
    """GroupNorm -> sigmoid(GN(x) * gamma / sum(gamma)) = w -> gate at threshold ->
    cross-add the informative and weak halves.
    """

    def __init__(self, channels: int, group_num: int = 4, gate_threshold: float = 0.5) -> None:
        super().__init__()
        self.gn = nn.GroupNorm(num_groups=group_num, num_channels=channels)
        self.gate_threshold = gate_threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma = self.gn.weight / self.gn.weight.sum()
        weights = torch.sigmoid(self.gn(x) * gamma.reshape(1, -1, 1, 1))
        informative = weights > self.gate_threshold
        weighted = weights * x
        x_1 = torch.where(informative, x, weighted)
        x_2 = weighted.masked_fill(informative, 0.0)
        half = x.shape[1] // 2
        return torch.cat([x_1[:, :half] + x_2[:, half:], x_1[:, half:] + x_2[:, :half]], dim=1)


class ChannelReconstructionUnit(nn.Module):
    """Split alpha C / (1 - alpha) C -> 1x1 squeeze -> (group kxk conv + 1x1) | (1x1,
    reuse) -> softmax-pooled fuse.
    """

    def __init__(
        self,
        channels: int,
        alpha: float = 0.5,
        squeeze_ratio: int = 2,
        group_size: int = 2,
        group_kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.up_channel = up_channel = int(alpha * channels)
        self.low_channel = low_channel = channels - up_channel
        up_squeezed = up_channel // squeeze_ratio
        low_squeezed = low_channel // squeeze_ratio
        self.squeeze1 = nn.Conv2d(up_channel, up_squeezed, kernel_size=1, bias=False)
        self.squeeze2 = nn.Conv2d(low_channel, low_squeezed, kernel_size=1, bias=False)
        # GWC / PWC1 / PWC2: the official code's names, kept for its state_dict keys
        self.GWC = nn.Conv2d(
            up_squeezed,
            channels,
            kernel_size=group_kernel_size,
            padding=group_kernel_size // 2,
            groups=group_size,
        )
        self.PWC1 = nn.Conv2d(up_squeezed, channels, kernel_size=1, bias=False)
        self.PWC2 = nn.Conv2d(low_squeezed, channels - low_squeezed, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.squeeze1(x[:, : self.up_channel])
        low = self.squeeze2(x[:, self.up_channel :])
        out = torch.cat([self.GWC(up) + self.PWC1(up), self.PWC2(low), low], dim=1)
        out = torch.softmax(out.mean(dim=(2, 3), keepdim=True), dim=1) * out
        channels = out.shape[1] // 2
        return out[:, :channels] + out[:, channels:]


class SpatialChannelReconstructionConv(nn.Module):
    """[1x1 conv C_in -> C_out if they differ] -> SRU (spatial reconstruction) -> CRU
    (channel reconstruction).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        group_num: int = 4,
        gate_threshold: float = 0.5,
        alpha: float = 0.5,
        squeeze_ratio: int = 2,
        group_size: int = 2,
        group_kernel_size: int = 3,
    ) -> None:
        super().__init__()
        require_positive(
            in_channels=in_channels,
            out_channels=out_channels,
            group_num=group_num,
            squeeze_ratio=squeeze_ratio,
            group_size=group_size,
            group_kernel_size=group_kernel_size,
        )
        # padding group_kernel_size // 2 keeps H and W
        require(group_kernel_size % 2 != 0, f"group_kernel_size ({group_kernel_size}) must be odd")
        require(0 < alpha < 1, f"alpha ({alpha}) must lie strictly between 0 and 1")
        # the SRU group-normalises them
        wrong = out_channels % group_num
        require(wrong == 0, f"out_channels ({out_channels}) % group_num ({group_num}) is {wrong}")
        # the SRU cross-adds the two channel halves
        require(out_channels % 2 == 0, f"out_channels ({out_channels}) must be even")
        up_channel = int(alpha * out_channels)
        up_squeezed = up_channel // squeeze_ratio
        low_squeezed = (out_channels - up_channel) // squeeze_ratio
        # alpha splits out_channels in two; each part keeps a channel after the squeeze
        parts = f"{up_channel} + {out_channels - up_channel} channels"
        kept = up_squeezed >= 1 and low_squeezed >= 1
        require(kept, f"alpha ({alpha}) splits into {parts}, too few to squeeze")
        # the CRU group convolution maps up_squeezed to out_channels channels
        grouped = up_squeezed % group_size == 0 and out_channels % group_size == 0
        sizes = f"{up_squeezed} and out_channels ({out_channels})"
        require(grouped, f"{sizes} must be divisible by group_size ({group_size})")
        self.proj = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else None
        )
        # SRU, CRU: the official code's names, kept for its state_dict keys
        self.SRU = SpatialReconstructionUnit(out_channels, group_num, gate_threshold)
        self.CRU = ChannelReconstructionUnit(
            out_channels, alpha, squeeze_ratio, group_size, group_kernel_size
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            x = self.proj(x)
        return self.CRU(self.SRU(x))
