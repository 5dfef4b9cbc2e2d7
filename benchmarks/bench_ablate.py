"""Speed of `plugscaffold ablate` on a 16-variant grid (issue 11).

The grid: down {maxpool, hwd} x up {convtranspose, dysample} x skip {cat, eff} x conv {conv,
dsconv} at width 32, every variant checked and measured at batch 2 x 3 x 64 x 64 (forward and
backward check with its FLOP count, activation bytes, median latency of 5 forward passes after
1 warm-up, 1 thread: the study's defaults).

Target: the study completes in at most 3x the time of the reference, a single process that
runs `import torch` and then one forward and backward pass of each of the 16 models the study
wrote (built from their model.py files, batch 2 x 3 x 64 x 64). Reported as the median of
per-round ratios, the two run one after the other so that a busy spell of the machine hits
both alike; each round writes a fresh study folder (so every variant is generated and measured)
with plugscaffold's cache warm, as on a user's machine after its first run; the first round,
with an empty cache, is reported apart ("cold"). Run:

    python benchmarks/bench_ablate.py [--repeat 3]
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

TARGET = 3.0
STUDY = """\
name: bench
baseline: {width: 32}
factors:
  down: [maxpool, hwd]
  up: [convtranspose, dysample]
  skip: [cat, eff]
  conv: [conv, dsconv]
check: {size: 64, batch: 2}
"""
REFERENCE = """\
import importlib.util, json, sys
import torch
for path, name in json.loads(sys.argv[1]):
    spec = importlib.util.spec_from_file_location("m", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, name)()
    model(torch.randn(2, 3, 64, 64)).float().square().mean().backward()
"""


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, help="OMP_NUM_THREADS for both commands (default: as the environment has it)"
    )
    args = parser.parse_args()
    import json

    work = Path(tempfile.mkdtemp(prefix="plugscaffold-bench-ablate-"))
    env = {**os.environ, "PLUGSCAFFOLD_CACHE_DIR": str(work / "cache")}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    (work / "study.yaml").write_text(STUDY)
    exe = [sys.executable, "-m", "plugscaffold", "ablate", "study.yaml", "--out"]
    rows = []
    try:
        for i in range(args.repeat + 1):
            out = work / f"round{i}"
            ours = timed([*exe, str(out)], work, env)
            manifest = json.loads((out / "manifest.json").read_text())
            models = [
                [str(out / "variants" / name / "model.py"), row["class_name"]]
                for name, row in manifest["variants"].items()
                if row["status"] == "done"
            ]
            assert len(models) == 16, f"{len(models)} variants measured"
            reference = timed([sys.executable, "-c", REFERENCE, json.dumps(models)], work, env)
            rows.append((ours, reference))
            shutil.rmtree(out)
        (cold_ours, cold_ref), warm = rows[0], rows[1:]
        ratio = statistics.median(a / b for a, b in warm)
        print(
            f"16-variant grid, width 32, checked and measured at 2x3x64x64 ({os.cpu_count()} CPUs, "
            f"OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}, load {os.getloadavg()[0]:.1f})"
        )
        print(
            f"cold cache: ablate {cold_ours:.1f} s, reference {cold_ref:.1f} s, {cold_ours / cold_ref:.2f}x"
        )
        print(
            f"warm cache ({len(warm)} rounds): ablate {statistics.median(a for a, _ in warm):.1f} s, "
            f"reference {statistics.median(b for _, b in warm):.1f} s, median ratio {ratio:.2f}x "
            f"(target <= {TARGET}x): {'PASS' if ratio <= TARGET else 'FAIL'}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
