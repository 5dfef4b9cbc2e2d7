"""Seed 001 (the "permutation and combination" tutorial on a UNet), number for number.

The tutorial prints three parameter counts: its UNet (milesial/Pytorch-UNet before 2020:
biased 3x3 convs + BN, widths 64-128-256-512-512, bilinear nn.Upsample), the same network with
every nn.Conv2d depthwise-separable (the final 1x1 included), and that one with SegNeXt's MSCA
SpatialAttention after each of the four downsamplings. The README's seed-001 walkthrough gives
one command for each; these tests run exactly those commands (plus a small --size for speed,
which does not change a count) and check the counts the tutorial printed.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

#: The counts seed 001 prints ("UNet total parameters: 13.40M (13395394)" and so on).
TUTORIAL = [13_395_394, 1_538_971, 3_516_699]
SECTION = "### Seed 001, number for number"


def readme_commands() -> list[tuple[list[str], int]]:
    """(argv after 'plugscaffold', count stated in its comment) for each command of the section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no '{SECTION}' section"
    section = text.split(SECTION, 1)[1].split("\n#", 1)[0]
    found = []
    for line in section.splitlines():
        match = re.match(r"plugscaffold (new .*?)\s+# ([\d,]+) parameters", line)
        if match:
            found.append((shlex.split(match.group(1)), int(match.group(2).replace(",", ""))))
    return found


def test_readme_shows_the_three_tutorial_counts():
    assert [count for _, count in readme_commands()] == TUTORIAL


@pytest.mark.slow
def test_readme_commands_build_the_tutorial_networks_exactly(run_cli, tmp_path):
    commands = readme_commands()
    assert len(commands) == 3
    for argv, stated in commands:
        result = run_cli(*argv, "--size", "32", cwd=tmp_path)
        assert result.code == 0, (argv, result.err)
        record = yaml.safe_load((tmp_path / argv[1] / ".plugscaffold.yml").read_text())
        assert record["parameters"] == stated, (argv, record["parameters"])
        assert f"{stated:,}" in (tmp_path / argv[1] / "model.py").read_text()


def test_the_tutorial_network_has_the_layers_of_the_tutorial(run_cli, tmp_path):
    (argv, _), _, (argv3, _) = readme_commands()
    text = run_cli(*argv3, "--stdout", "--no-smoke", cwd=tmp_path).out
    for line in [
        "self.enc1 = DoubleConv(in_channels, 64)",
        "self.down1_block_attn = MSCASpatialAttention(128)",
        "self.bottleneck = DoubleConv(512, 512)",
        "self.down4_block_attn = MSCASpatialAttention(512)",
        'self.up4 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)',
        "self.dec4 = DoubleConv(1024, 256)",
        "self.dec1 = DoubleConv(128, 64)",
        "self.head = DepthwiseSeparableConv(64, classes, kernel_size=1)",  # bias=False: the default
    ]:
        assert line in text, line
    base = run_cli(*argv, "--stdout", "--no-smoke", cwd=tmp_path).out
    assert "nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=True)" in base


STEPS = [
    ("2.1 serial + residual and parallel pairs", ["--attn", "se+cbam^@enc", "--attn", "se/cbam@dec"]),
    ("3 EFF in every skip", ["--skip", "eff"]),
    ("4 HWD downsampling", ["--down", "hwd"]),
    ("5 DySample upsampling", ["--up", "dysample"]),
]


@pytest.mark.slow
def test_seed_001_later_steps_one_command_each(run_cli, tmp_path):
    """Steps 2.1 to 5 on top of the tutorial's step-2 network, cumulative, all checked."""
    args = list(readme_commands()[2][0][2:])
    params = {}
    for i, (label, step) in enumerate(STEPS):
        args += step
        result = run_cli("new", f"step{i}", *args, "--size", "32", cwd=tmp_path)
        assert result.code == 0, (label, result.err)
        assert "forward and backward passed" in result.out, label
        project = tmp_path / f"step{i}"
        params[label] = yaml.safe_load((project / ".plugscaffold.yml").read_text())["parameters"]
        for tool in (["black", "--check", "-q"], ["ruff", "check", "--select", "F", "--no-cache", "-q"]):
            proc = subprocess.run(
                [sys.executable, "-m", *tool, "model.py"], cwd=project, capture_output=True, text=True
            )
            assert proc.returncode == 0, (label, tool[0], proc.stdout, proc.stderr)
    assert params["2.1 serial + residual and parallel pairs"] > TUTORIAL[2]
    text = (tmp_path / "step3" / "model.py").read_text()
    for part in [
        "Residual(",
        "Serial(",
        "Parallel(",
        "EfficientFeatureFusion(",
        "HaarWaveletDownsample(",
        "DySample(",
        "MSCASpatialAttention(",
    ]:
        assert part in text, part
