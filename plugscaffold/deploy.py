"""Deployment checks: does a model (or one catalog module) survive TorchScript, torch.export,
torch.compile and ONNX, and does each give the eager output?

``check_model`` runs the chosen paths on a written model.py in a subprocess
(``_deploy_worker.py``) and returns one :class:`PathResult` per path; ``format_checks`` makes
the table, ``checks_cell`` the one-cell summary for a study table. ``check_entries`` runs
catalog modules at a tiny size in worker processes, for the tests that keep the catalog's
``deploy:`` record true. No torch is imported here.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from . import inline
from .catalog import DEPLOY_PATHS, Catalog, Entry
from .errors import DeployError, SpecError, did_you_mean
from .options import Check
from .plan import Plan
from .resources import PACKAGE_DIR

WORKER = PACKAGE_DIR / "_deploy_worker.py"
#: The deployment paths, in the order they are run and shown.
PATHS = DEPLOY_PATHS
DESCRIPTIONS = {
    "script": "torch.jit.script",
    "trace": "torch.jit.trace",
    "export": "torch.export.export, dynamic batch, height and width",
    "compile": "torch.compile(fullgraph=True)",
    "onnx": "torch.onnx.export(dynamo=True) of the torch.export program, run in onnxruntime",
}
#: The input side of ``plugscaffold check`` without --size (rounded up to the model's divisor).
DEFAULT_SIZE = 64
#: Packages the ONNX path imports (none is needed by plugscaffold itself).
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")


@dataclass(frozen=True)
class PathResult:
    path: str
    ok: bool
    error: str | None  # the first line of the failure
    max_diff: float | None  # largest |out - eager| over the inputs compared
    seconds: float


def parse_paths(text: str | Sequence[str]) -> tuple[str, ...]:
    """'onnx,export' or 'all' -> the paths in canonical order; SpecError names an unknown one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    chosen = set()
    for item in (i.strip() for i in items):
        if item == "all":
            chosen.update(PATHS)
        elif item in PATHS:
            chosen.add(item)
        else:
            raise SpecError(
                f"unknown deployment path '{item}'{did_you_mean(item, PATHS)}; "
                f"choose from: {', '.join(PATHS)} or all"
            )
    if not chosen:
        raise SpecError(f"no deployment path given; choose from: {', '.join(PATHS)} or all")
    return tuple(p for p in PATHS if p in chosen)


def require_packages(paths: Iterable[str]) -> None:
    """DeployError (one line) if a chosen path needs a package that is not installed."""
    if "onnx" not in paths:
        return
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise DeployError(
            f"the onnx check needs the package(s) {', '.join(missing)}; "
            "install them with: pip install onnx onnxscript onnxruntime"
        )


def example_shapes(batch: int, channels: int, height: int, width: int, step: int) -> list[list[int]]:
    """The example input, and a second one of another batch (1, or 2 after an example of 1) and
    another height and width (``step`` + 1 rows and 1 column more), so that a graph specialised
    to the example's batch or size, or to its padding, fails the comparison. ``step`` 1 gives
    odd sizes to a module of even example size; a model's divisor gives a size off its grid."""
    other = 1 if batch != 1 else 2
    return [[batch, channels, height, width], [other, channels, height + step + 1, width + 1]]


def check_model(
    path: str | Path,
    class_name: str,
    shapes: list[list[int]],
    paths: Sequence[str] = PATHS,
    *,
    timeout: float = 600.0,
    compile_backend: str = "inductor",
    popen: type[subprocess.Popen] = subprocess.Popen,
) -> list[PathResult]:
    """Run the deployment ``paths`` on the model class in ``path`` in a subprocess (``popen``:
    the test suite passes a Popen that forks its own process instead of a new interpreter)."""
    require_packages(paths)
    request = {
        "path": str(path),
        "class_name": class_name,
        "shapes": shapes,
        "paths": list(paths),
        "compile_backend": compile_backend,
    }
    argv = [sys.executable, str(WORKER), json.dumps(request)]
    with popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise DeployError(
                f"deployment check timed out after {timeout:g} s; use a smaller --size, fewer paths "
                "or a larger --timeout"
            ) from None
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        raise DeployError(f"deployment check crashed (exit {proc.returncode}): {last}")
    result = json.loads(lines[-1])
    if not result["ok"]:
        raise DeployError(f"deployment check could not build the model: {result['error']}")
    return [PathResult(path=p, **result["results"][p]) for p in paths]


def check_generated(
    path: str | Path,
    plan: Plan,
    check: Check,
    paths: Sequence[str] = PATHS,
    compile_backend: str = "inductor",
) -> list[PathResult]:
    """The deployment check of a model.py generated from ``plan``, at ``check``'s batch and size."""
    shapes = example_shapes(check.batch, plan.input.channels, check.height, check.width, plan.divisor)
    return check_model(
        path, plan.class_name, shapes, paths, timeout=check.timeout, compile_backend=compile_backend
    )


def check_project(
    directory: str | Path,
    paths: Sequence[str] = PATHS,
    *,
    size: tuple[int, int] | None = None,
    batch: int = 2,
    timeout: float = 600.0,
    compile_backend: str = "inductor",
    catalog: Catalog | None = None,
) -> tuple[Check, list[PathResult]]:
    """Check DIR/model.py of a project made by plugscaffold (its answers file names the class).

    ``size`` defaults to DEFAULT_SIZE (rounded up to the model's divisor); the model file is
    checked as it is, with any edits the user made.
    """
    from .answers import Answers
    from .blueprints import make_plan
    from .catalog import load_catalog
    from .errors import TargetError
    from .plan import check_size
    from .spec import make_spec

    directory = Path(directory)
    recorded = Answers.load(directory)
    catalog = catalog or load_catalog()
    plan = make_plan(make_spec(catalog, recorded.name, recorded.options), catalog)
    if size is None:
        side = -(-max(DEFAULT_SIZE, 2 * plan.divisor) // plan.divisor) * plan.divisor
        size = (side, side)
    check = Check(height=size[0], width=size[1], batch=batch, timeout=timeout)
    check_size(plan, check)
    model = directory / "model.py"
    if not model.is_file():
        raise TargetError(f"{model} is missing; regenerate it with 'plugscaffold new --force' or restore it")
    require_packages(paths)
    return check, check_generated(model, plan, check, paths, compile_backend)


def failed(results: Iterable[PathResult]) -> list[str]:
    return [r.path for r in results if not r.ok]


def format_checks(results: Sequence[PathResult], title: str = "Deployment") -> str:
    """One row per path: result, largest difference from eager, time, first error line."""
    from .report import table

    rows = [
        [
            r.path,
            "ok" if r.ok else "FAIL",
            f"{r.max_diff:.1e}" if r.max_diff is not None else "-",
            f"{r.seconds:.1f} s",
            r.error or DESCRIPTIONS[r.path],
        ]
        for r in results
    ]
    lines = [
        f"{title} checks (eval mode, compared with eager: |out - eager| <= 1e-4 + 1e-4 * |eager|)",
        *table([["path", "result", "max |diff|", "time", "what / first error"], *rows]),
    ]
    bad = failed(results)
    lines.append(
        f"{len(results) - len(bad)} of {len(results)} paths passed"
        + (f"; failed: {', '.join(bad)}" if bad else "")
    )
    return "\n".join(lines)


def checks_cell(results: Sequence[PathResult]) -> str:
    """A short summary for one cell of a table with a row per model (e.g. 'ok' or 'no: script')."""
    bad = failed(results)
    return "ok" if not bad else "no: " + ",".join(bad)


# --- catalog modules ------------------------------------------------------------------------

#: Widths tried for a module's check, smallest first (tiny, for a fast sweep).
MODULE_WIDTHS = (8, 16, 32, 64)


def entry_request(entry: Entry, workdir: Path, seed: int = 0) -> dict:
    """What a worker needs to build ``entry`` at the smallest width its constraints accept, and
    its two example inputs (no torch here).

    The inlined classes are written to ``workdir`` (TorchScript reads the source of what it
    compiles); the request names that file, the constructor call, the input shapes and the seed.
    A down-sampler sees even sizes only (the model pads to its divisor): 8x8 and 12x10; any
    other module 8x8 and 11x9. Batch 2, then batch 1.
    """
    from .errors import PlanError
    from .plan import place

    sources, imports = inline.collect(entry.classes)
    path = workdir / f"entry_{entry.slot}_{entry.name}.py"
    path.write_text(
        "\n".join([*imports, "import torch", "import torch.nn as nn", "", *sources]), encoding="utf-8"
    )
    params = {k: p.default for k, p in entry.params.items()}
    for width in MODULE_WIDTHS:
        out = width // 2 if entry.slot == "up" else width
        try:
            placed = place(
                entry, params, where="deploy", in_channels=width, out_channels=out, skip_channels=width
            )
        except PlanError:
            continue
        break
    else:
        raise ValueError(f"{entry.key}: no width in {MODULE_WIDTHS} satisfies its constraints")
    shapes = (
        example_shapes(2, width, 8, 8, 1)
        if entry.contract.scale != 0.5
        else [[2, width, 8, 8], [1, width, 12, 10]]
    )
    return {
        "key": entry.key,
        "path": str(path),
        "code": placed.code,
        "shapes": shapes,
        "inputs": entry.contract.inputs,
        "seed": seed,
    }


@dataclass(frozen=True)
class EntryCheck:
    """One catalog module's deployment paths, or why they could not be run."""

    key: str
    results: tuple[PathResult, ...]
    error: str | None = None  # the module could not be built, or its worker crashed or hung


class _Worker:
    """``_deploy_worker.py --serve``: one request line in, one answer line out."""

    def __init__(self, log: Path):
        self.log = log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER), "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )

    def ask(self, request: dict, timeout: float) -> dict:
        from ._deploy_worker import ANSWER

        expired = threading.Event()

        def expire() -> None:
            expired.set()
            self.proc.kill()

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            for line in self.proc.stdout:
                if line.startswith(ANSWER):
                    return json.loads(line[len(ANSWER) :])
        except (BrokenPipeError, OSError):
            pass
        finally:
            timer.cancel()
        self.proc.kill()
        self.proc.wait()
        if expired.is_set():
            raise DeployError(f"deployment check timed out after {timeout:g} s")
        lines = self.log.read_text(errors="replace").strip().splitlines() or ["no output"]
        raise DeployError(f"deployment check crashed (exit {self.proc.returncode}): {lines[-1]}")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def check_entries(
    entries: Sequence[Entry],
    paths: Sequence[str] = PATHS,
    *,
    jobs: int | None = None,
    timeout: float = 300.0,
) -> dict[str, EntryCheck]:
    """The deployment paths of catalog modules, each at a tiny width, in ``jobs`` worker
    processes (default: up to 2, one per core) that take the next module as they finish one.

    Made for a fast sweep of the whole catalog: torch.compile captures the graph only
    (fullgraph=True, backend "eager": no code generation) and the ONNX exporter skips its
    graph optimisation (the ONNX graph is translated and run in onnxruntime unoptimised);
    everything else is as ``plugscaffold check`` runs it. A worker that crashes or passes
    ``timeout`` seconds on one module is replaced; that module gets the error.
    """
    require_packages(paths)
    jobs = jobs or min(2, os.cpu_count() or 1)
    sweep = _Sweep(paths, timeout)
    with tempfile.TemporaryDirectory(prefix="plugscaffold-deploy-") as tmp:
        sweep.queue(entries, Path(tmp))
        threads = [
            threading.Thread(target=sweep.serve, args=(Path(tmp) / f"worker{i}.log",), daemon=True)
            for i in range(max(1, min(jobs, len(sweep.pending))))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return {e.key: sweep.checks[e.key] for e in entries}


class _Sweep:
    """The module requests that check_entries' threads take in turn, and what each one found."""

    def __init__(self, paths: Sequence[str], timeout: float) -> None:
        self.paths = paths
        self.timeout = timeout
        self.pending: collections.deque[dict] = collections.deque()
        self.checks: dict[str, EntryCheck] = {}
        self.lock = threading.Lock()

    def queue(self, entries: Sequence[Entry], workdir: Path) -> None:
        """One request per module; a module that no width builds gets its error at once."""
        for entry in entries:
            try:
                request = entry_request(entry, workdir)
            except ValueError as exc:
                self.checks[entry.key] = EntryCheck(entry.key, (), str(exc))
                continue
            self.pending.append(
                {**request, "paths": list(self.paths), "compile_backend": "eager", "onnx_optimize": False}
            )

    def serve(self, log: Path) -> None:
        """One thread: the next request to its worker until none is left (a fresh worker after
        one crashed or timed out, which gives that module the error)."""
        worker = None
        while (request := self._next()) is not None:
            key = request["key"]
            worker = worker or _Worker(log)
            try:
                answer = worker.ask(request, self.timeout)
            except DeployError as exc:
                self.checks[key] = EntryCheck(key, (), str(exc))
                worker = None
                continue
            if answer["ok"]:
                results = tuple(PathResult(path=p, **answer["results"][p]) for p in self.paths)
                self.checks[key] = EntryCheck(key, results)
            else:
                self.checks[key] = EntryCheck(key, (), f"could not build the module: {answer['error']}")
        if worker is not None:
            worker.close()

    def _next(self) -> dict | None:
        with self.lock:
            return self.pending.popleft() if self.pending else None


def supports(entry: Entry, path: str) -> bool | None:
    """The catalog's record: True, False, or None where the entry records nothing."""
    if entry.deploy is None:
        return None
    return path in entry.deploy.supported


def filter_entries(catalog: Catalog, entries: Iterable[Entry], paths: Sequence[str]) -> list[Entry]:
    return [e for e in entries if all(supports(e, p) for p in paths)]
