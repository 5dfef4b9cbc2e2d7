"""End-to-end speed of `plugscaffold new`, against the floors of issue #2.

1. `plugscaffold new` (smoke check included) vs a bare Python process that imports torch,
   builds the same model and runs forward + backward once at the same size: <= 1.3x.
2. `plugscaffold new --no-smoke` vs `python -c "import torch"`: <= 0.5x (the CLI must
   not import torch to generate).

Each command runs REPEAT times; the two commands of a pair alternate, and the median
wall times and the median of the per-round ratios are reported. Run:

    python benchmarks/bench_new.py [--size 256] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPTIONS = ["--down", "hwd", "--up", "dysample", "--skip", "eff"]
BARE = """
import runpy, sys, torch
model = runpy.run_path(sys.argv[1])["UNet"]()
x = torch.randn({batch}, 3, {size}, {size})
model(x).float().square().mean().backward()
"""


def timed(cmd: list[str], cwd: Path, before=None) -> float:
    if before:
        before()
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def compare(ours: list[str], reference: list[str], cwd: Path, repeat: int, before=None):
    """Median wall times of both commands and the median of their per-round ratios.

    The two run alternately, so that a slow spell of the machine hits both alike.
    """
    rounds = [(timed(ours, cwd, before), timed(reference, cwd)) for _ in range(repeat)]
    a, b = zip(*rounds)
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("plugscaffold", path=str(Path(sys.executable).parent)) or "plugscaffold"
    work = Path(tempfile.mkdtemp(prefix="plugscaffold-bench-"))
    size = ["--size", str(args.size), "--batch", str(args.batch)]
    clean = lambda: shutil.rmtree(work / "bench", ignore_errors=True)  # noqa: E731

    subprocess.run([exe, "new", "bench", *OPTIONS, *size, "--no-smoke"], cwd=work, check=True)
    model = work / "model.py"
    shutil.copy(work / "bench" / "model.py", model)
    bare_cmd = [sys.executable, "-c", BARE.format(batch=args.batch, size=args.size), str(model)]
    new, bare, new_ratio = compare([exe, "new", "bench", *OPTIONS, *size], bare_cmd, work, args.repeat, clean)
    gen_cmd = [exe, "new", "bench", *OPTIONS, "--no-smoke"]
    gen, torch_import, gen_ratio = compare(
        gen_cmd, [sys.executable, "-c", "import torch"], work, args.repeat, clean
    )
    shutil.rmtree(work)

    print(f"UNet {' '.join(OPTIONS)}, batch {args.batch}, {args.size}x{args.size}, median of {args.repeat}")
    print(f"  plugscaffold new (with smoke check)   {new:6.2f} s")
    print(f"  bare: import torch, build, fwd+bwd    {bare:6.2f} s   ratio {new_ratio:.2f} (target <= 1.30)")
    print(f"  plugscaffold new --no-smoke           {gen:6.2f} s")
    print(
        f"  python -c 'import torch'              {torch_import:6.2f} s   ratio {gen_ratio:.2f} (target <= 0.50)"
    )


if __name__ == "__main__":
    main()
