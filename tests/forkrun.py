"""``python SCRIPT ARGS`` for a generated project's scripts (train.py, predict.py, export.py),
run in a child process forked from the test's own process.

The child is a real process: its own exit status, stdout and stderr, working directory and
environment, and its own process group (a timeout kills it and any DataLoader workers). What
it saves is the interpreter's start: ``import torch`` (~1.5 s of CPU), and, pre-imported here
once, torch._dynamo (which torch's optimizers import at their first step, ~1 s) and matplotlib
(curves.png). The script runs as ``__main__`` from its own folder, with the project's modules
(config, data, model, ...) imported afresh, so nothing of one project or run leaks into the
next. A few tests still start the scripts with a new interpreter (torchrun, the project's own
pytest, tests/test_standalone.py), so that start-up itself stays checked.

:class:`ForkedPopen` does the same for a ``subprocess.Popen`` of a Python script: the suite's
in-process smoke checks and one-model deployment checks start their workers with it
(tests/conftest.py). Interpreter options (``-m``, ``-I``) are not emulated and are refused.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import io
import os
import runpy
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path

#: The project's own modules: dropped from sys.modules in the child before the script runs.
PROJECT_MODULES = ("config", "data", "export", "images", "metrics", "model", "predict", "train")


@functools.cache
def _warm() -> None:
    """What every training run imports and a fresh interpreter pays for each time, once here."""
    import torch._dynamo  # noqa: F401  (torch.optim's first step imports it)

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        pass


def _script_or_code(argv: list[str]) -> list[str]:
    """``argv`` (after the interpreter) when it is a script and its arguments or ``-c CODE``:
    interpreter options (``-m``, ``-I``, ...) are not emulated."""
    if not argv or (argv[0].startswith("-") and argv[0] != "-c") or (argv[0] == "-c" and len(argv) < 2):
        raise ValueError(f"a forked run takes a script or -c CODE, not {argv[:1]}")
    return argv


def _child(argv: list[str], cwd: Path | None, env: dict[str, str]) -> int:
    """In the forked child, whose fds 0, 1 and 2 are set: ``python *argv`` as the interpreter
    would run it (``argv``: a script and its arguments, or ``-c CODE ARGS``); its exit status."""
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if cwd is not None:
        os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    import torch

    threads = env.get("OMP_NUM_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    torch.set_grad_enabled(True)
    for name in PROJECT_MODULES:
        sys.modules.pop(name, None)
    # as the interpreter does: the script's folder (for -c, the working directory) comes first
    sys.path.insert(0, "" if argv[0] == "-c" else os.path.dirname(os.path.abspath(argv[0])))
    atexit._clear()  # the test process's handlers are not the script's
    code = 0
    try:
        if argv[0] == "-c":
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = list(argv)
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    threading._shutdown()  # as the interpreter ends: it waits for the script's non-daemon threads
    atexit._run_exitfuncs()
    return code


def _exit_after(run) -> None:
    """In the forked child: ``run()``, then exit with its status; never back into the test."""
    code = 70
    try:
        code = run()
    except BaseException:
        traceback.print_exc()  # the child's own set-up failed
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run_script(
    argv: list[str], cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python *argv`` in ``cwd`` (``argv``: the script and its arguments, or ``-c CODE``),
    as ``subprocess.run(..., capture_output=True, text=True, timeout=timeout)`` returns it; the
    run has a session (process group) of its own, so that a timeout kills what it started too."""
    _warm()
    command = [sys.executable, *argv]
    with ForkedPopen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:  # fmt: skip
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


class ForkedPopen(subprocess.Popen):
    """``subprocess.Popen([sys.executable, SCRIPT, ...], ...)`` whose child is forked from this
    process and runs SCRIPT there, instead of exec'ing a new interpreter. Everything else is
    Popen's own: the pipes, communicate, poll, kill, wait and the exit status. The suite starts
    the smoke check's worker with it (tests/conftest.py); the CLI's own tests that run
    ``plugscaffold`` as a command still start real ones."""

    def _execute_child(self, *args, **kwargs):  # Popen's hook that starts the child (POSIX)
        a = inspect.signature(subprocess.Popen._execute_child).bind(self, *args, **kwargs).arguments
        argv = list(a["args"])
        if argv[0] != sys.executable:
            raise ValueError(f"ForkedPopen runs Python scripts, not {argv[0]}")
        _script_or_code(argv[1:])
        env = dict(os.environ if a["env"] is None else a["env"])
        cwd = None if a["cwd"] is None else Path(a["cwd"])
        pipes = ("p2cread", "p2cwrite", "c2pread", "c2pwrite", "errread", "errwrite")
        import torch  # noqa: F401  (here, once, rather than in each child)

        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:

            def child() -> int:
                if a["start_new_session"]:
                    os.setsid()
                elif a.get("process_group", -1) != -1:
                    os.setpgid(0, a["process_group"])
                for name, std in (("p2cread", 0), ("c2pwrite", 1), ("errwrite", 2)):
                    if a[name] != -1:
                        os.dup2(a[name], std)
                # this process's ends, and the originals of those now 0, 1, 2 (stderr=STDOUT:
                # one fd twice); other open files stay open (the GC may still close them)
                for fd in {a[name] for name in pipes} - {-1, 0, 1, 2}:
                    os.close(fd)
                return _child(argv[1:], cwd, env)

            _exit_after(child)
        self.pid = pid
        self._child_created = True
        self._close_pipe_fds(*(a[name] for name in pipes))
