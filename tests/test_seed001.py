"""Seed 001's five hand edits of a UNet, each one command, cumulative, all checked."""

from __future__ import annotations

import subprocess
import sys

import yaml

CLASSIC = 31_037_698
STEPS = [
    ("1 depthwise-separable convs", ["--conv", "dsconv"]),
    ("2 MSCA after every downsampling", ["--attn", "msca@down"]),
    ("2.1 serial + residual and parallel pairs", ["--attn", "se+cbam^@enc", "--attn", "se/cbam@dec"]),
    ("3 EFF in every skip", ["--skip", "eff"]),
    ("4 HWD downsampling", ["--down", "hwd"]),
    ("5 DySample upsampling", ["--up", "dysample"]),
]


def test_seed_001_workflow_one_command_per_step(run_cli, tmp_path):
    args: list[str] = []
    params = {}
    for i, (label, step) in enumerate(STEPS):
        args += step
        result = run_cli("new", f"step{i}", *args, "--size", "32", cwd=tmp_path)
        assert result.code == 0, (label, result.err)
        assert "forward and backward passed" in result.out, label
        assert "Baseline     the default UNet of the same size" in result.out, label
        project = tmp_path / f"step{i}"
        params[label] = yaml.safe_load((project / ".plugscaffold.yml").read_text())["parameters"]
        for tool in (["black", "--check", "-q"], ["ruff", "check", "--select", "F", "--no-cache", "-q"]):
            proc = subprocess.run(
                [sys.executable, "-m", *tool, "model.py"], cwd=project, capture_output=True, text=True
            )
            assert proc.returncode == 0, (label, tool[0], proc.stdout, proc.stderr)
    assert params["1 depthwise-separable convs"] < 0.2 * CLASSIC  # more than 80% fewer parameters
    assert params["2 MSCA after every downsampling"] > params["1 depthwise-separable convs"]
    text = (tmp_path / "step5" / "model.py").read_text()
    for part in [
        "Residual(",
        "Serial(",
        "Parallel(",
        "EfficientFeatureFusion(",
        "HaarWaveletDownsample(",
        "DySample(",
    ]:
        assert part in text, part
