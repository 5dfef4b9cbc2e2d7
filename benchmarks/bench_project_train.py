"""Time-to-accuracy of a generated training project (`plugscaffold new ... --project`).

Generates the segmentation project a student would start from (a UNet of width 16 and
depth 4, 2 classes, checked at 64x64), then runs the training command from the project's
own README (`python train.py`: synthetic shapes at 64x64, batch 16, 50 steps per epoch)
with `--target 0.9`, which stops once the validation Dice reaches 0.9. Prints the wall
time, the epochs and the final Dice. Run:

    python benchmarks/bench_project_train.py [--width 16] [--size 64] [--target 0.9] [--threads N]

`--threads N` sets OMP_NUM_THREADS for the training process (default: torch's choice,
one thread per core). `--keep DIR` keeps the project and its runs/ in DIR.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plugscaffold.options import Output
from plugscaffold.pipeline import generate
from plugscaffold.smoke import Check


def readme_train_command(readme: str) -> list[str]:
    """The first `python train.py ...` line of the README's Quick start block."""
    quick = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", quick, re.DOTALL).group(1)
    line = next(line for line in block.splitlines() if line.startswith("python train.py"))
    words = shlex.split(line.split("#", 1)[0])
    return [sys.executable, *words[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        parent = args.keep or Path(tmp)
        parent.mkdir(parents=True, exist_ok=True)
        options = {"width": args.width, "depth": args.depth}
        gen = generate(
            "seg",
            options,
            output=Output.WRITE_PROJECT,
            parent=parent,
            replace=True,
            check=Check(args.size, args.size, 2),
        )
        project = parent / "seg"
        files = gen.contents

        command = [*readme_train_command(files["README.md"]), "--target", str(args.target)]
        env = dict(os.environ)
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        print(f"model      {gen.plan.summary}, {gen.smoke.parameters:,} parameters")
        print(f"command    {' '.join(['python', *command[1:]])}  (in the generated project)")
        print(
            f"machine    {os.cpu_count()} cores, threads {args.threads or 'default'}, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"training failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        with (project / "runs" / "metrics.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        dice = float(rows[-1]["val_dice"])
        per_epoch = sum(float(r["seconds"]) for r in rows) / len(rows)
        reached = "reached" if dice >= args.target else "NOT reached"
        print(f"result     {reached}: validation Dice {dice:.4f} after {len(rows)} epochs")
        print(f"wall time  {wall:.1f} s in all ({per_epoch:.1f} s per epoch, including validation)")
        print("epochs     " + ", ".join(f"{r['epoch']}: {float(r['val_dice']):.3f}" for r in rows))


if __name__ == "__main__":
    main()
