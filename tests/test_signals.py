"""SIGTERM, SIGHUP and SIGKILL to `plugscaffold new`: one line, nothing written, no process left.

Each run starts the CLI in a session of its own; the processes left are found by that
session id in /proc (never by name), and only those are killed when a test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugscaffold.smoke import WORKER

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

# A check that runs for seconds (512x512), so that the signal arrives while it runs.
NEW = [sys.executable, "-m", "plugscaffold", "new", "m", "--width", "16", "--depth", "2", "--size", "512"]


def session_members(sid: int) -> list[int]:
    """Live processes (zombies excluded) whose session id is ``sid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start(tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        NEW, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def wait_for_the_check(proc: subprocess.Popen, tmp_path: Path) -> list[int]:
    """Wait until model.py is staged (the CLI then waits for the worker's check); the session's
    processes, the worker among them."""
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".plugscaffold-*/model.py")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the check never started"
        time.sleep(0.01)
    members = session_members(proc.pid)
    assert any("_smoke_worker.py" in command_line(pid) for pid in members), members
    return members


def assert_nothing_left(sid: int) -> None:
    deadline = time.monotonic() + 10
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = {pid: command_line(pid) for pid in session_members(sid)}
    if left:
        os.killpg(sid, signal.SIGKILL)  # this test's own session only
    assert left == {}


@pytest.mark.parametrize("name", ["SIGTERM", pytest.param("SIGHUP", marks=pytest.mark.slow)])
def test_a_signal_during_the_check_ends_with_one_line_nothing_written_and_no_child_left(tmp_path, name):
    signum = getattr(signal, name)
    proc = start(tmp_path)
    try:
        wait_for_the_check(proc, tmp_path)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signum
    assert (out, err) == ("", f"plugscaffold: terminated by {name}\n")
    assert_nothing_left(proc.pid)
    assert list(tmp_path.iterdir()) == []  # no project, no staging directory


INTERMEDIATE = """
import os, subprocess, sys, time
worker = subprocess.Popen([sys.executable, sys.argv[1], "-", str(os.getpid())], stdin=int(sys.argv[2]),
                          pass_fds=(int(sys.argv[2]),))
print(worker.pid, flush=True)
time.sleep(600)
"""


def test_the_worker_dies_with_a_parent_killed_by_sigkill(tmp_path):
    """SIGKILL cannot be handled: the kernel's parent-death signal ends the worker. Its stdin
    is held open here, so that only that signal can end it (not the end of its input)."""
    reading, writing = os.pipe()
    parent = subprocess.Popen(
        [sys.executable, "-c", INTERMEDIATE, str(WORKER), str(reading)],
        pass_fds=(reading,),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        worker = int(parent.stdout.readline())
        time.sleep(0.5)  # the worker is importing torch, or waiting for its request
        assert worker in session_members(parent.pid)
        parent.kill()
        parent.wait(timeout=60)
        deadline = time.monotonic() + 5
        while worker in session_members(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker not in session_members(parent.pid)
    finally:
        os.close(writing)
        os.close(reading)
        if session_members(parent.pid):
            os.killpg(parent.pid, signal.SIGKILL)  # this test's own session only


@pytest.mark.slow
def test_sigterm_while_loading_is_one_line_and_no_traceback(tmp_path):
    proc = start(tmp_path)
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    # before Python ran a line of plugscaffold, the default action ends it (-15), silently
    assert proc.returncode in (128 + signal.SIGTERM, -signal.SIGTERM), err
    assert err in ("", "plugscaffold: terminated by SIGTERM\n"), err  # as later in the run
    assert_nothing_left(proc.pid)
    assert list(tmp_path.iterdir()) == []


def test_the_early_worker_is_started_only_for_a_checked_new():
    from plugscaffold import _early

    for argv in (["list"], ["new", "m", "--no-smoke"], ["new", "--help"], ["update", "."]):
        _early.start_if_new(argv)
        assert _early.take() is None, argv
    _early.start_if_new(["new", "m", "--size", "64"])
    proc = _early.take()
    try:
        assert proc is not None and proc.poll() is None
        assert _early.take() is None  # handed over once
    finally:
        proc.kill()
        proc.communicate()


def test_the_early_worker_checks_the_model(tmp_path, real_smoke_worker):
    """``new`` run as the program adopts the worker its package started: the check runs in it."""
    from plugscaffold import _early
    from plugscaffold.options import Check
    from plugscaffold.pipeline import generate

    _early.start_if_new(["new", "m"])
    proc = _early.take()
    from plugscaffold.smoke import SmokeWorker

    with SmokeWorker(proc) as worker:
        gen = generate("m", {"width": 8, "depth": 2}, parent=tmp_path, check=Check(32, 32), worker=worker)
    assert worker.proc is proc and proc.returncode is not None
    assert gen.smoke is not None and gen.smoke.output_shape == (2, 2, 32, 32)


@pytest.mark.parametrize("args", [["--bogus"], ["--size", "0"], []])
def test_a_new_that_fails_before_the_check_leaves_no_worker(tmp_path, args):
    """The worker started before the options are parsed is stopped when they are wrong."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "plugscaffold", "new", *(["m", *args] if args else [])],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (1, 2) and len(err.strip().splitlines()) == 1, err
    assert_nothing_left(proc.pid)
    assert list(tmp_path.iterdir()) == []
