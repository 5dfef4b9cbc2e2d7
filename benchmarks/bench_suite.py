"""Wall time of the test suite on a busy machine (issue 16: under 10 minutes on a loaded 2-CPU
machine).

Starts ``--busy`` CPU-bound Python processes (``while True: pass``, default 4), runs the test
command beside them, then stops them and prints the wall time, the suite's last line and the
1-minute load average seen at the end. ``--busy 0`` times the suite on a quiet machine. Any
further arguments go to pytest instead of the README's test command's ``-q``.
Run from the repository root:

    python benchmarks/bench_suite.py                  # beside four busy processes
    python benchmarks/bench_suite.py --busy 2
    python benchmarks/bench_suite.py --busy 0 -- -q -m "not slow"
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--busy", type=int, default=4, help="CPU-bound processes beside the suite (default 4)"
    )
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest after --")
    args = parser.parse_args(argv)
    if args.busy < 0:
        parser.error("--busy must be 0 or more")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *(args.pytest_args or ["-q"])],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        load = os.getloadavg()[0]
    finally:
        for p in busy:
            p.kill()
            p.wait()
    lines = proc.stdout.strip().splitlines() or ["(no output)"]
    minutes, rest = divmod(round(seconds), 60)
    print(lines[-1])
    print(f"wall {minutes} min {rest:02d} s beside {args.busy} busy processes; "
          f"load average {load:.1f} at the end")  # fmt: skip
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
