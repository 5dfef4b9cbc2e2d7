"""End-to-end speed of `plugscaffold new`, against `python -c "import torch"` (issue 16).

Targets, both as the median of per-round ratios, the two commands of a round run one after
the other so that a busy spell of the machine hits both alike:

1. the headline `plugscaffold new my_unet --down hwd --up dysample --skip eff`, default
   options (smoke check included, at its default size): <= 1.5x `import torch`;
2. the same with `--no-smoke` (generation alone): <= 0.2x `import torch`.

plugscaffold caches what is fully determined by its inputs (black's formatting of each part
of model.py, the baseline model's parameters and FLOPs; see plugscaffold/cache.py). The rounds
run with a warm cache, as every run after the first on a machine does; the first run with an
empty cache is timed apart and reported too ("cold"), each against its own `import torch`.
The cache lives in a temporary folder, never the user's. Run:

    python benchmarks/bench_new.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADLINE = ["new", "my_unet", "--down", "hwd", "--up", "dysample", "--skip", "eff"]
TORCH = [sys.executable, "-c", "import torch"]
TARGETS = {"new": 1.5, "new --no-smoke": 0.2}


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    shutil.rmtree(cwd / "my_unet", ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def rounds(ours: list[str], cwd: Path, env: dict, repeat: int) -> tuple[float, float, float]:
    """Median wall times of ours and of `import torch`, and the median per-round ratio."""
    pairs = [(timed(ours, cwd, env), timed(TORCH, cwd, env)) for _ in range(repeat)]
    a, b = zip(*pairs)
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    exe = shutil.which("plugscaffold", path=str(Path(sys.executable).parent)) or "plugscaffold"
    work = Path(tempfile.mkdtemp(prefix="plugscaffold-bench-"))
    commands = {"new": [exe, *HEADLINE], "new --no-smoke": [exe, *HEADLINE, "--no-smoke"]}
    results = {}
    try:
        for label, cmd in commands.items():
            cold_env = {**os.environ, "PLUGSCAFFOLD_CACHE_DIR": str(work / f"cache-cold-{len(results)}")}
            cold, cold_torch = timed(cmd, work, cold_env), timed(TORCH, work, cold_env)
            env = {**os.environ, "PLUGSCAFFOLD_CACHE_DIR": str(work / "cache")}
            timed(cmd, work, env)  # fills the cache
            results[label] = (*rounds(cmd, work, env, args.repeat), cold / cold_torch)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"plugscaffold {' '.join(HEADLINE)}: median of {args.repeat} alternating rounds "
        f"({os.cpu_count()} CPUs, load average {load:.1f} at the end)"
    )
    print(f"  {'command':<16} {'ours':>7} {'import torch':>13} {'ratio':>6} {'target':>7} {'cold ratio':>11}")
    for label, (ours, torch_s, ratio, cold_ratio) in results.items():
        verdict = "ok" if ratio <= TARGETS[label] else "MISSED"
        print(
            f"  {label:<16} {ours:6.2f}s {torch_s:12.2f}s {ratio:6.2f} {'<= ' + str(TARGETS[label]):>7} "
            f"{cold_ratio:11.2f}  {verdict}"
        )


if __name__ == "__main__":
    main()
