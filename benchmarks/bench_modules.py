"""CPU forward time of six catalog modules against their official formulation.

For hwd, dysample, carafe, msca, nonlocal and mhsa, this times our module and the way the
official code computes the same function, on the same input and the same weights, at a fixed
number of threads (default 2). The reference formulations below are written here from the
papers' equations and the official code's structure (they are not the official code, which
needs pytorch_wavelets, mmcv's CUDA op or a checkout):

- hwd: the wavelet-library path (pytorch_wavelets' DWTForward, J=1, haar): two separable
  strided filter passes per channel, the four sub-bands concatenated, then the 1x1 conv;
- dysample: offsets pixel-shuffled to full resolution, sampling grid built there, one
  grid_sample (tiny-smart/dysample's forward_lp);
- carafe: mmcv's pure-PyTorch formulation: pixel-shuffled kernels, softmax, unfold of the
  k x k neighbourhoods, nearest upsampling of the unfolded tensor, weighted sum;
- msca: SegNeXt's AttentionModule on NCHW tensors;
- nonlocal: the embedded-Gaussian block with explicit matmul and softmax (AlexHex7's);
- mhsa: torch.nn.MultiheadAttention on the H*W tokens with the same weights.

Before timing, each pair is checked to give the same output (max abs difference printed).
Targets from issue 3: ours at most 1.0x the reference, hwd at most 0.5x. Run:

    python benchmarks/bench_modules.py [--threads 2] [--repeat 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from plugscaffold.modules.carafe import CARAFEUpsample
from plugscaffold.modules.dysample import DySample
from plugscaffold.modules.hwd import HaarWaveletDownsample
from plugscaffold.modules.mhsa import MultiHeadSpatialSelfAttention
from plugscaffold.modules.msca import MultiScaleConvAttention
from plugscaffold.modules.non_local import NonLocalBlock2d

# --- reference formulations ------------------------------------------------------------------


def hwd_reference(m: HaarWaveletDownsample, x: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
    wt = m.wt

    def along_h(t, filt):  # filter and decimate each channel along the rows
        return F.conv2d(t, filt.expand(c, 1, 2, 1), stride=(2, 1), groups=c)

    def along_w(t, filt):
        return F.conv2d(t, filt.expand(c, 1, 1, 2), stride=(1, 2), groups=c)

    low, high = along_h(x, wt.h0_col), along_h(x, wt.h1_col)
    bands = [
        along_w(low, wt.h0_row),
        along_w(high, wt.h0_row),
        along_w(low, wt.h1_row),
        along_w(high, wt.h1_row),
    ]
    return m.conv_bn_relu(torch.cat(bands, dim=1))


def dysample_reference(m: DySample, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    s, g = m.scale, m.groups
    offset = m.offset(x) * 0.25 + m.init_pos  # (B, 2 * G * s^2, H, W), channels (xy, group, a, b)
    offset = offset.view(b, 2, -1, h, w)
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    coords = torch.stack([xs, ys]).view(1, 2, 1, h, w).to(x)
    normaliser = torch.tensor([w, h], dtype=x.dtype).view(1, 2, 1, 1, 1)
    coords = 2 * (coords + offset) / normaliser - 1
    coords = F.pixel_shuffle(coords.reshape(b, -1, h, w), s)  # (B, 2 * G, sH, sW)
    coords = coords.view(b, 2, g, s * h, s * w).permute(0, 2, 3, 4, 1).reshape(b * g, s * h, s * w, 2)
    out = F.grid_sample(
        x.reshape(b * g, c // g, h, w), coords, mode="bilinear", padding_mode="border", align_corners=False
    )
    return out.view(b, c, s * h, s * w)


def carafe_reference(m: CARAFEUpsample, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    k, g, s = m.up_kernel, m.up_group, m.scale_factor
    kernels = F.pixel_shuffle(m.content_encoder(m.channel_compressor(x)), s)  # (B, G * k^2, sH, sW)
    kernels = torch.softmax(kernels.view(b, g, k * k, s * h, s * w), dim=2)
    patches = F.unfold(x, k, padding=k // 2).view(b, c * k * k, h, w)
    patches = F.interpolate(patches, scale_factor=s, mode="nearest").view(b, g, c // g, k * k, s * h, s * w)
    return (patches * kernels.unsqueeze(2)).sum(dim=3).view(b, c, s * h, s * w)


def msca_reference(m: MultiScaleConvAttention, x: torch.Tensor) -> torch.Tensor:
    attn = m.conv0(x)
    branch0 = m.conv0_2(m.conv0_1(attn))
    branch1 = m.conv1_2(m.conv1_1(attn))
    branch2 = m.conv2_2(m.conv2_1(attn))
    return m.conv3(attn + branch0 + branch1 + branch2) * x


def nonlocal_reference(m: NonLocalBlock2d, x: torch.Tensor) -> torch.Tensor:
    b, _, h, w = x.shape
    d = m.inter_channels
    g_x = m.g(x).view(b, d, -1).permute(0, 2, 1)
    theta_x = m.theta(x).view(b, d, -1).permute(0, 2, 1)
    phi_x = m.phi(x).view(b, d, -1)
    attention = torch.softmax(torch.matmul(theta_x, phi_x), dim=-1)
    y = torch.matmul(attention, g_x).permute(0, 2, 1).contiguous().view(b, d, h, w)
    return x + m.W(y)


def mhsa_reference(m: MultiHeadSpatialSelfAttention) -> Callable[[torch.Tensor], torch.Tensor]:
    channels = m.proj.in_features
    mha = nn.MultiheadAttention(channels, m.heads, batch_first=True).eval()
    mha.in_proj_weight.data.copy_(m.qkv.weight)
    mha.in_proj_bias.data.copy_(m.qkv.bias)
    mha.out_proj.weight.data.copy_(m.proj.weight)
    mha.out_proj.bias.data.copy_(m.proj.bias)

    def forward(x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        out, _ = mha(tokens, tokens, tokens, need_weights=False)
        return out.transpose(1, 2).reshape(b, c, h, w)

    return forward


# --- the cases -----------------------------------------------------------------------------------


def randomise(module: nn.Module) -> nn.Module:
    """Non-trivial weights (several modules start as the identity or near-uniform)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    return module.eval()


def cases() -> list[tuple[str, str, nn.Module, Callable, tuple[int, ...], float]]:
    """(name, reference description, ours, reference callable, input shape, target ratio)."""
    hwd = randomise(HaarWaveletDownsample(64, 64))
    dys = randomise(DySample(64))
    car = randomise(CARAFEUpsample(64))
    msca = randomise(MultiScaleConvAttention(64))
    nl = randomise(NonLocalBlock2d(64))
    mhsa = randomise(MultiHeadSpatialSelfAttention(64, heads=4))
    return [
        (
            "hwd",
            "separable Haar DWT + concat + 1x1",
            hwd,
            lambda x: hwd_reference(hwd, x),
            (2, 64, 128, 128),
            0.5,
        ),
        (
            "dysample",
            "shuffled offsets + grid_sample",
            dys,
            lambda x: dysample_reference(dys, x),
            (2, 64, 64, 64),
            1.0,
        ),
        (
            "carafe",
            "unfold + nearest + weighted sum",
            car,
            lambda x: carafe_reference(car, x),
            (2, 64, 64, 64),
            1.0,
        ),
        (
            "msca",
            "SegNeXt AttentionModule, NCHW",
            msca,
            lambda x: msca_reference(msca, x),
            (2, 64, 64, 64),
            1.0,
        ),
        (
            "nonlocal",
            "matmul + softmax + matmul",
            nl,
            lambda x: nonlocal_reference(nl, x),
            (2, 64, 32, 32),
            1.0,
        ),
        ("mhsa", "nn.MultiheadAttention on tokens", mhsa, mhsa_reference(mhsa), (2, 64, 32, 32), 1.0),
    ]


def compare(ours: Callable, reference: Callable, x: torch.Tensor, repeat: int) -> tuple[float, float, float]:
    """Median ms of each and the median of per-round ratios; the two alternate, so that a
    slow spell of the machine hits both alike."""

    def once(fn: Callable) -> float:
        start = time.perf_counter()
        fn(x)
        return time.perf_counter() - start

    with torch.inference_mode():
        for _ in range(3):
            ours(x), reference(x)
        rounds = [(once(ours), once(reference)) for _ in range(repeat)]
    a, b = zip(*rounds)
    return statistics.median(a) * 1e3, statistics.median(b) * 1e3, statistics.median(x / y for x, y in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    header = (
        f"{'module':<9} {'input':<18} {'reference formulation':<34} {'ours ms':>8} {'ref ms':>8} "
        f"{'ratio':>6} {'target':>7}  max|diff|"
    )
    print(header)
    missed = []
    for name, what, ours, reference, shape, target in cases():
        torch.manual_seed(0)
        x = torch.randn(shape)
        with torch.inference_mode():
            diff = (ours(x) - reference(x)).abs().max().item()
        t_ours, t_ref, ratio = compare(ours, reference, x, args.repeat)
        if ratio > target:
            missed.append(name)
        print(
            f"{name:<9} {str(tuple(shape)):<18} {what:<34} {t_ours:8.2f} {t_ref:8.2f} "
            f"{ratio:5.2f}x {target:6.1f}x  {diff:.1e}"
        )
    print("all within target" if not missed else f"over target: {', '.join(missed)}")


if __name__ == "__main__":
    main()
