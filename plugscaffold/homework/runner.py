"""Running one submission's checks in ``_grade_worker.py`` under limits, and ending every process it made.

Each worker starts in a new session, so it leads its own process group: at the end of the
run, at a check's time limit, and when the grader is stopped (SIGTERM, SIGINT), the whole
group is killed with SIGKILL before the worker is reaped (so its id cannot have been reused).
Every worker also carries a random token in its environment; processes that left the group
(``setsid``) but kept the environment are found by that token in /proc and killed too. A
process that leaves the group *and* clears its environment escapes both: only a container or
a cgroup stops that, which is why Gradescope's one-container-per-submission is the safe place
to grade strangers' code.

A check that does not finish within its time limit costs that check: the worker is killed and
a new one continues with the next check. A worker that dies during a check (a crash, a
segfault, the memory cap) costs that check the same way. A model.py that does not import
stops the run once, with the first line of its error.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

WORKER = Path(__file__).resolve().with_name("_grade_worker.py")
TOKEN_VARIABLE = "PLUGSCAFFOLD_GRADE_TOKEN"

MAX_LINE = 1 << 20  # bytes of one progress line
_LIVE: dict[int, str] = {}  # worker pid (= its process group) -> token
_LOCK = threading.Lock()
STOPPING = threading.Event()


class Stopped(Exception):
    """Grading was stopped (a signal); every submission process has been ended."""


@dataclass(frozen=True)
class Limits:
    check_timeout: float = 30.0  # seconds per check
    total_timeout: float = 600.0  # seconds per submission
    load_timeout: float = 120.0  # seconds for torch and model.py to import
    memory_mb: int = 4096  # address-space cap of the worker and what it starts


@dataclass
class Outcome:
    """What the worker reported: per check index, None (done) or why it has no result."""

    problems: dict[int, str | None] = field(default_factory=dict)
    note: str = ""  # model.py did not load: the one line for the whole submission
    network: str = ""


def run(workdir: Path, count: int, limits: Limits) -> Outcome:
    """Run checks 0..count-1 in workers (restarting after a hang or crash) within the limits."""
    outcome = Outcome()
    deadline = time.monotonic() + limits.total_timeout
    start = 0
    while start < count and not outcome.note:
        if STOPPING.is_set():
            raise Stopped
        if time.monotonic() >= deadline:
            break
        start = _one_worker(workdir, start, count, limits, deadline, outcome)
    if time.monotonic() >= deadline:
        missing = f"not run: the submission's time limit of {limits.total_timeout:g} s ran out"
    else:
        missing = "no result was reported for this check"
    for index in range(count):
        outcome.problems.setdefault(index, missing)
    return outcome


@contextmanager
def protected() -> Iterator[None]:
    """This process non-dumpable while it grades (Linux), so a worker cannot read its memory.

    The expected results live only in the grader's memory; without this, a submission running
    as the same user could read them through /proc/<grader>/mem or ptrace. Restored afterwards.
    """
    try:
        import ctypes

        prctl = ctypes.CDLL(None).prctl
        before = prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
        prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    except (OSError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        if before == 1:
            prctl(4, 1, 0, 0, 0)


def start_worker(command: list[str], workdir: Path, **popen) -> tuple[subprocess.Popen, str]:
    """Start an untrusted worker: its own session (process group), a minimal environment with
    a fresh token, one thread per library; :func:`end` kills all it started. ``plugscaffold
    add``'s probe starts its worker here too."""
    token = secrets.token_hex(16)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        TOKEN_VARIABLE: token,
    }
    with _LOCK:
        if STOPPING.is_set():
            raise Stopped
        proc = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, start_new_session=True, **popen
        )
        _LIVE[proc.pid] = token
    return proc, token


def _spawn(workdir: Path, start_at: int, limits: Limits) -> tuple[subprocess.Popen, int, str]:
    read_end, write_end = os.pipe()
    try:
        with open(workdir / "stdout.txt", "ab") as out, open(workdir / "stderr.txt", "ab") as err:
            proc, token = start_worker(
                [sys.executable, "-I", str(WORKER), str(workdir), str(write_end), str(limits.memory_mb),
                 str(start_at)],
                workdir, stdout=out, stderr=err, pass_fds=(write_end,),
            )  # fmt: skip
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return proc, read_end, token


def _one_worker(
    workdir: Path, start: int, count: int, limits: Limits, deadline: float, outcome: Outcome
) -> int:
    """One worker from check ``start``; returns the next check to start from."""
    proc, fd, _ = _spawn(workdir, start, limits)
    running: int | None = None
    state = {"loaded": False}  # read by _events to switch from the import's limit to the checks'
    try:
        for event in _events(fd, limits, deadline, state):
            loaded = state["loaded"]
            if event is None:  # a time limit
                if not loaded:
                    outcome.note = f"model.py did not finish importing within {limits.load_timeout:g} s"
                    return count
                if running is None or time.monotonic() >= deadline:
                    return count
                outcome.problems[running] = f"timed out after {limits.check_timeout:g} s (this check only)"
                return running + 1
            kind = event.get("event")
            if kind == "load_error":
                outcome.note = f"model.py does not load: {event.get('message', '')}"
                return count
            if kind == "loaded":
                state["loaded"], outcome.network = True, str(event.get("network", ""))
            elif kind == "start":
                running = int(event["index"])
            elif kind == "done" and running is not None:
                error = event.get("error")
                where = f" ({event['where']})" if event.get("where") else ""
                outcome.problems[running] = f"raised {error}{where}" if error else None
                running = None
            elif kind == "finished":
                return count
        # the report pipe closed without 'finished': the worker died
        code = _wait(proc)
        why = _died(workdir, code, limits)
        if not state["loaded"]:
            outcome.note = f"model.py does not load: the process ended ({why})"
            return count
        if running is None:
            return count
        outcome.problems[running] = f"the process ended during this check ({why})"
        return running + 1
    finally:
        os.close(fd)
        end(proc)


def _events(fd: int, limits: Limits, deadline: float, state: dict[str, bool]):
    """JSON events from the report pipe; None when the current phase's time limit passes."""
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    buffer = b""
    phase_end = time.monotonic() + limits.load_timeout
    try:
        while True:
            if STOPPING.is_set():
                raise Stopped
            now = time.monotonic()
            limit = min(phase_end, deadline)
            if now >= limit:
                yield None
                return
            if not selector.select(timeout=min(limit - now, 0.5)):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            buffer += chunk
            if len(buffer) > MAX_LINE and b"\n" not in buffer:
                buffer = b""  # not a progress line of ours: drop it
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # not ours: something else wrote to the pipe
                if not isinstance(event, dict):
                    continue
                yield event
                if state["loaded"]:
                    phase_end = time.monotonic() + limits.check_timeout
    finally:
        selector.close()


def _wait(proc: subprocess.Popen) -> int | None:
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def _died(workdir: Path, code: int | None, limits: Limits) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        why = f"killed by {name}"
        if -code == signal.SIGKILL:
            why += f"; the memory cap is {limits.memory_mb} MiB"
    else:
        why = f"exit code {code}"
    try:
        lines = (workdir / "stderr.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return f"{why}: {lines[-1][:200]}" if lines else why


def end(proc: subprocess.Popen) -> None:
    """Kill the worker's process group and any process carrying its token, then reap the worker."""
    with _LOCK:
        token = _LIVE.pop(proc.pid, None)
    _kill_group(proc.pid)
    if token:
        _kill_token(token)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL'd processes end
        pass


def end_all() -> None:
    """Kill every live worker's group and tokens (signal handlers call this)."""
    with _LOCK:
        live = list(_LIVE.items())
    for pid, token in live:
        _kill_group(pid)
        _kill_token(token)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_token(token: str) -> None:
    """SIGKILL every process whose environment holds ``token`` (Linux /proc; elsewhere nothing)."""
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    for _ in range(3):  # a process may fork while we look: look again
        found = False
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)
                    found = True
            except (OSError, ValueError):
                continue
        if not found:
            return


def process_groups_alive(pgid: int) -> list[int]:
    """The processes of group ``pgid`` still alive (not zombies); tests use it to prove cleanup."""
    alive = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            alive.append(int(entry.name))
    return alive
