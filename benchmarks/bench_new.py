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
    python benchmarks/bench_new.py --resnet   # issue 10: ResNet-50 against a bare run, <= 1.3x
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
    shutil.rmtree(cwd / "r50", ignore_errors=True)
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
    parser.add_argument("--resnet", action="store_true", help="only the ResNet-50 measurement (issue 10)")
    args = parser.parse_args()
    if args.resnet:
        resnet(args.repeat)
        return
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


#: issue 10: a generated ResNet-50 against a bare run that imports torch, builds the same
#: network from the same model.py and runs the same forward and backward pass
RESNET = ["new", "r50", "--arch", "resnet", "--depth", "50"]
RESNET_TARGET = 1.3
BARE = (
    "import importlib.util, sys, torch\n"
    "spec = importlib.util.spec_from_file_location('m', sys.argv[1])\n"
    "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
    "torch.manual_seed(0); model = m.ResNet()\n"
    "x = torch.randn(int(sys.argv[2]), 3, int(sys.argv[3]), int(sys.argv[4]))\n"
    "model(x).float().square().mean().backward()\n"
)


def resnet(repeat: int) -> None:
    """`plugscaffold new r50 --arch resnet --depth 50` vs the bare run, alternating rounds."""
    from plugscaffold.blueprints import make_plan
    from plugscaffold.catalog import load_catalog
    from plugscaffold.plan import fit_check
    from plugscaffold.smoke import Check
    from plugscaffold.spec import make_spec

    exe = shutil.which("plugscaffold", path=str(Path(sys.executable).parent)) or "plugscaffold"
    catalog = load_catalog()
    plan = make_plan(make_spec(catalog, "r50", {"arch": "resnet", "depth": 50}), catalog)
    check = fit_check(plan, Check())
    work = Path(tempfile.mkdtemp(prefix="plugscaffold-bench-"))
    env = {**os.environ, "PLUGSCAFFOLD_CACHE_DIR": str(work / "cache")}
    try:
        (work / "keep").mkdir()
        subprocess.run([exe, *RESNET, "--dir", str(work / "keep")], env=env, check=True, capture_output=True)
        model = work / "keep" / "r50" / "model.py"
        bare = [sys.executable, "-c", BARE, str(model), str(check.batch), str(check.height), str(check.width)]
        pairs = [(timed([exe, *RESNET], work, env), timed(bare, work, env)) for _ in range(repeat)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, theirs = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    ratio = statistics.median(a / b for a, b in pairs)
    verdict = "ok" if ratio <= RESNET_TARGET else "MISSED"
    print(
        f"plugscaffold {' '.join(RESNET)} (check {check.batch}x3x{check.height}x{check.width}): "
        f"{ours:.2f}s, bare run {theirs:.2f}s, ratio {ratio:.2f} <= {RESNET_TARGET}  {verdict}"
    )


if __name__ == "__main__":
    main()
