"""Where the test suite's CPU time goes: a pytest plugin and its report (issue 16).

As a plugin, it records for every test the CPU time (user + sys) of the process that ran it and
of the child processes that process waited for during the test (smoke checks, training runs,
deployment workers), and its wall time; each pytest process (every xdist worker) writes its rows
to ``$SUITE_CPU_DIR/tests_<pid>.tsv``. Run from the repository root:

    SUITE_CPU_DIR=/tmp/cpu PYTHONPATH=benchmarks python -m pytest -q -p suite_cpu
    python benchmarks/suite_cpu.py /tmp/cpu          # per module, then the 20 costliest tests

Children that a test starts but does not wait for (daemons) are not counted.
"""

from __future__ import annotations

import collections
import os
import resource
import sys
import time
from pathlib import Path

import pytest

_ROWS: list[tuple[str, float, float, float]] = []


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    own, children = _cpu()
    start = time.perf_counter()
    yield
    own_after, children_after = _cpu()
    _ROWS.append((item.nodeid, own_after - own, children_after - children, time.perf_counter() - start))


def pytest_sessionfinish(session):
    folder = os.environ.get("SUITE_CPU_DIR")
    if not folder or not _ROWS:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    lines = [f"{nodeid}\t{own:.2f}\t{children:.2f}\t{wall:.2f}\n" for nodeid, own, children, wall in _ROWS]
    (Path(folder) / f"tests_{os.getpid()}.tsv").write_text("".join(lines))


def report(folder: Path) -> str:
    """CPU seconds per module (own, children, total), its tests' wall time (what
    tests/conftest.py's MODULE_SECONDS holds) and the 20 costliest tests."""
    rows = []
    for path in sorted(folder.glob("tests_*.tsv")):
        for line in path.read_text().splitlines():
            nodeid, own, children, wall = line.split("\t")
            rows.append((nodeid, float(own), float(children), float(wall)))
    if not rows:
        return f"no rows in {folder}: run the suite with SUITE_CPU_DIR={folder} first"
    modules: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    for nodeid, own, children, wall in rows:
        sums = modules[nodeid.split("::")[0]]
        sums[0], sums[1], sums[2] = sums[0] + own, sums[1] + children, sums[2] + wall
    total = sum(own + children for own, children, _ in modules.values())
    out = [f"{len(rows)} tests, {total:.0f} s of CPU time", "", "  own  children  total   wall  module"]
    for name, (own, children, wall) in sorted(modules.items(), key=lambda kv: -(kv[1][0] + kv[1][1])):
        out.append(f"{own:5.0f}  {children:8.0f}  {own + children:5.0f}  {wall:5.0f}  {name}")
    out += ["", "  cpu   wall  test"]
    for nodeid, own, children, wall in sorted(rows, key=lambda r: -(r[1] + r[2]))[:20]:
        out.append(f"{own + children:5.1f}  {wall:5.1f}  {nodeid}")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/suite_cpu.py FOLDER (the SUITE_CPU_DIR of a run)")
    print(report(Path(sys.argv[1])))
