"""The smoke check's worker process, started before anything else of ``plugscaffold new``.

The check's critical path is the worker's ``import torch`` (about a second and a half).
Started by the package's first code (``__init__``) when the program is ``plugscaffold new``,
the worker imports torch while this process imports the rest, reads the catalog, parses the
options and renders the model: that saves the 0.3 s those take. Standard library only, so
that starting it costs milliseconds; :class:`plugscaffold.smoke.SmokeWorker` adopts it.
"""

from __future__ import annotations

import os
import subprocess
import sys

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_smoke_worker.py")

#: Options after which ``new`` runs no check (or does not run at all).
_NO_CHECK = frozenset({"--no-smoke", "-h", "--help"})

_started: subprocess.Popen | None = None


def spawn(popen: type[subprocess.Popen] = subprocess.Popen) -> subprocess.Popen:
    """Start the worker: it imports torch, then waits for its request on stdin. (``popen``:
    the test suite passes a Popen that forks its own process instead of a new interpreter.)

    It shares this process's group, so a signal to the group reaches both; it kills itself
    when this process exits (a parent-death signal, on Linux), and ``SmokeWorker.close`` kills
    it on every other way out (an error, Ctrl-C, SIGTERM or SIGHUP: cli.py). OpenMP threads
    that spin while they wait made a check 5 times slower on a busy machine; waiting
    passively costs little when it is idle (a user's setting wins).
    """
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    return popen(
        [sys.executable, WORKER, "-", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def start_if_new(argv: list[str]) -> None:
    """Start the worker now when ``argv`` (the program's arguments) asks for a checked ``new``."""
    global _started
    if argv[:1] == ["new"] and _NO_CHECK.isdisjoint(argv) and _started is None:
        _started = spawn()


def take() -> subprocess.Popen | None:
    """The worker started early, handed over once (None when there is none)."""
    global _started
    proc, _started = _started, None
    return proc


def discard() -> None:
    """Stop an early worker that no command took (a usage error, ``--help`` given late)."""
    proc = take()
    if proc is not None:
        proc.kill()
        proc.communicate()
