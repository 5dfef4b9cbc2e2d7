"""tests/forkrun.py, which runs the generated projects' scripts for the suite: what a test sees
of a forked run is what it would see of ``python SCRIPT ARGS`` in a new interpreter."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from forkrun import run_script

SCRIPT = """\
import argparse, os, sys
print("name", __name__, "argv", sys.argv, "cwd", os.getcwd(), "colour", os.environ.get("COLOUR"))
print("to stderr", file=sys.stderr)
parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, required=True)
args = parser.parse_args()
if args.count < 0:
    sys.exit(f"{parser.prog}: error: --count {args.count}: not a count")
if args.count == 0:
    raise ValueError("zero")
from config import VALUE
print("config", VALUE)
sys.exit(args.count)
"""


def project(folder: Path, value: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "tool.py").write_text(SCRIPT)
    (folder / "config.py").write_text(f"VALUE = {value!r}\n")
    return folder


@pytest.mark.parametrize("args", [["--count", "3"], ["--count", "-1"], [], ["--count", "0"]])
def test_a_forked_run_gives_what_a_new_interpreter_gives(tmp_path, args):
    folder = project(tmp_path / "p", "first")
    env = {**os.environ, "COLOUR": "green"}
    real = subprocess.run([sys.executable, "tool.py", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    forked = run_script(["tool.py", *args], folder, env=env)
    assert (forked.returncode, forked.stdout) == (real.returncode, real.stdout)
    if args == ["--count", "0"]:  # an unhandled error: its traceback, status 1
        assert forked.returncode == 1
        assert forked.stderr.startswith("to stderr\nTraceback (most recent call last):")
        assert forked.stderr.endswith("ValueError: zero\n") and real.stderr.endswith("ValueError: zero\n")
    else:
        assert forked.stderr == real.stderr
    assert real.returncode == {"3": 3, "-1": 1}.get(args[-1] if args else "", 1 if args else 2)


def test_each_run_imports_its_own_projects_modules_and_leaves_this_process_alone(tmp_path, monkeypatch):
    first, second = project(tmp_path / "a", "first"), project(tmp_path / "b", "second")
    # a test here imported another project's config.py (as the classification tests do)
    monkeypatch.setitem(sys.modules, "config", SimpleNamespace(VALUE="a stale project"))
    assert "config first" in run_script(["tool.py", "--count", "3"], first).stdout
    assert "config second" in run_script(["tool.py", "--count", "3"], second).stdout
    assert sys.modules["config"].VALUE == "a stale project"
    assert os.getcwd() != str(second)


def test_the_scripts_exit_handlers_run_and_this_processs_do_not(tmp_path):
    marker = tmp_path / "parent_handler_ran"
    handler = lambda: marker.write_text("ran")  # noqa: E731
    atexit.register(handler)
    try:
        code = "import atexit\natexit.register(lambda: print('script handler'))\nprint('body')\n"
        proc = run_script(["-c", code], tmp_path)
    finally:
        atexit.unregister(handler)
    assert (proc.returncode, proc.stdout) == (0, "body\nscript handler\n")
    assert not marker.exists()


def test_a_timeout_kills_the_run_and_what_it_started(tmp_path):
    code = (
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open('pids', 'w').write(f'{os.getpid()} {child.pid}')\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_script(["-c", code], tmp_path, timeout=3)
    assert time.monotonic() - started < 30
    for pid in map(int, (tmp_path / "pids").read_text().split()):
        assert not alive(pid), pid


def alive(pid: int) -> bool:
    """Running (a zombie, killed and not yet reaped by init, is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status
