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
from forkrun import ForkedPopen, run_script

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


def test_the_scripts_threads_and_exit_handlers_end_it_and_this_processs_do_not(tmp_path):
    marker = tmp_path / "parent_handler_ran"
    handler = lambda: marker.write_text("ran")  # noqa: E731
    atexit.register(handler)
    try:
        code = (
            "import atexit, threading, time\n"
            "atexit.register(lambda: print('script handler'))\n"
            "threading.Thread(target=lambda: (time.sleep(0.3), print('thread'))).start()\n"
            "print('body')\n"
        )
        proc = run_script(["-c", code], tmp_path)
    finally:
        atexit.unregister(handler)
    # the interpreter's order: the script, its non-daemon threads, its exit handlers
    assert (proc.returncode, proc.stdout) == (0, "body\nthread\nscript handler\n")
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


ECHO = """\
import os, sys
line = sys.stdin.readline()
print(line.strip().upper(), os.getpgrp() == os.getpgid(int(sys.argv[1])), os.environ["COLOUR"])
print("done", file=sys.stderr)
sys.exit(int(sys.argv[2]))
"""


@pytest.mark.parametrize("new_session", [False, True])
def test_forked_popen_talks_and_ends_as_popen_does(tmp_path, new_session):
    (tmp_path / "echo.py").write_text(ECHO)
    argv = [sys.executable, str(tmp_path / "echo.py"), str(os.getpid()), "4"]
    env = {**os.environ, "COLOUR": "blue"}
    results = []
    for popen in (subprocess.Popen, ForkedPopen):
        proc = popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     env=env, start_new_session=new_session)  # fmt: skip
        results.append((*proc.communicate("ping\n", timeout=60), proc.returncode))
    same_group = "False" if new_session else "True"  # a new session is a new group
    assert results[0] == results[1] == (f"PING {same_group} blue\n", "done\n", 4)


def test_forked_popen_sends_stderr_to_stdout_as_popen_does(tmp_path):
    (tmp_path / "both.py").write_text("import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr)\n")
    argv = [sys.executable, str(tmp_path / "both.py")]
    got = [popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).communicate(timeout=60)
           for popen in (subprocess.Popen, ForkedPopen)]  # fmt: skip
    assert got[0] == got[1] == ("out\nerr\n", None)


def test_forked_popen_can_be_killed_and_runs_only_python(tmp_path):
    (tmp_path / "wait.py").write_text("import time\ntime.sleep(60)\n")
    proc = ForkedPopen([sys.executable, str(tmp_path / "wait.py")], stdout=subprocess.PIPE)
    assert proc.poll() is None
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -9
    with pytest.raises(ValueError, match="runs Python scripts, not sleep"):
        ForkedPopen(["sleep", "1"])
    for argv in (["-m", "json.tool"], ["-c"], []):  # interpreter options are not emulated
        with pytest.raises(ValueError, match="takes a script or -c CODE"):
            ForkedPopen([sys.executable, *argv])
        with pytest.raises(ValueError, match="takes a script or -c CODE"):
            run_script(argv, tmp_path)
