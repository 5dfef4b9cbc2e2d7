"""Probing classes in the worker: running it, and reading the source for side effects.

The class runs in ``plugscaffold/_probe_worker.py``, started like the homework grader's workers
(:func:`plugscaffold.homework.runner.start_worker`: own process group, killed with everything
it started at the time limit) and isolated like them (``_isolate.py``: memory cap, no network).
The worker only records what the code does at several widths, sizes and layouts; infer.py turns
a record into the contract, :func:`scan` reads the source for side effects that break a
standalone model.py.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

from .. import inline
from ..catalog import Catalog
from ..errors import ProbeError
from .infer import Effect, Limits, Observed, infer

WORKER = Path(__file__).resolve().parent.parent / "_probe_worker.py"
#: Widths tried: equal in/out/skip, then pairs that tell the rules apart.
WIDTHS = (4, 6, 8, 12, 16, 20, 24, 30, 32, 40, 48, 64, 96, 128)
VARIANTS = (
    (32, 48, 32),
    (48, 32, 48),
    (32, 32, 16),
    (16, 32, 16),
    (30, 32, 32),
    (32, 30, 32),
    (6, 32, 32),
    (32, 6, 32),
)
SIZES = ((16, 16), (8, 8), (32, 32), (24, 40), (12, 20), (15, 15))
#: Packages a generated model.py may import besides the standard library.
ALLOWED_PACKAGES = ("torch",)


# --- running the worker ----------------------------------------------------------------------


def run_worker(jobs: list[dict[str, Any]], limits: Limits) -> dict[str, Any]:
    """Run the probe worker on ``jobs``; its records (ProbeError when it dies or runs out of time)."""
    from ..homework import runner

    with tempfile.TemporaryDirectory(prefix="plugscaffold-probe-") as tmp:
        work = Path(tmp)
        request = {"memory_mb": limits.memory_mb, "call_timeout": limits.call_timeout, "jobs": jobs}
        (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
        with open(work / "stderr.txt", "wb") as err:
            proc, _ = runner.start_worker(
                [sys.executable, "-I", str(WORKER), "request.json", "result.json"],
                work,
                stdout=err,
                stderr=err,
            )
        try:
            code = proc.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:  # end everything it started
            runner.end(proc)
            job = _last_job(work)
            name = jobs[job]["class"] if job is not None else "the probe"
            raise ProbeError(
                f"{name} did not finish probing within {limits.timeout:g} s (a hang?); nothing was written"
            ) from None
        except BaseException:  # Ctrl-C: the worker runs in its own session, so end it here
            runner.end(proc)
            raise
        runner.end(proc)
        result = work / "result.json"
        if code != 0 or not result.is_file():
            lines = (work / "stderr.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()
            job = _last_job(work)
            name = jobs[job]["class"] if job is not None else "the probe"
            why = f"killed by signal {-code}" if code and code < 0 else f"exit code {code}"
            detail = f": {lines[-1][:200]}" if lines else ""
            raise ProbeError(
                f"probing {name} ended the process ({why}; memory cap {limits.memory_mb} MiB){detail}; "
                "nothing was written"
            )
        return json.loads(result.read_text(encoding="utf-8"))


def _last_job(work: Path) -> int | None:
    try:
        lines = (work / "progress.txt").read_text(encoding="utf-8").split()
        return int(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def widths() -> list[list[int]]:
    return [[w, w, w] for w in WIDTHS] + [list(v) for v in VARIANTS]


# --- static scan ----------------------------------------------------------------------------------


def scan(path: Path, text: str, classes: list[str]) -> list[Effect]:
    """Imports beyond torch and the standard library, prints, device literals and warnings
    filters in the code that would be inlined (the classes and what they use from the file):
    each blocks the entry, since model.py would carry it. Module-level code is not copied; the
    probe reports what it does at import (and any print or warning seen at run time)."""
    defs = inline.definitions(path, text)
    effects = []
    names = inline.needed(defs, classes)
    used = set().union(*(defs[n].uses for n in names)) if names else set()
    bindings = next(iter(defs.values())).bindings if defs else {}
    for local, line in sorted(bindings.items()):
        module = line.split()[1].split(".")[0]
        if local in used and module not in ALLOWED_PACKAGES and module not in sys.stdlib_module_names:
            effects.append(
                Effect("import", "static", f"needs '{line}': model.py may import only torch", True)
            )
    tops = [n for n in ast.parse(text).body if getattr(n, "name", None) in names]
    for top in tops:
        for node in ast.walk(top):
            line = f"line {getattr(node, 'lineno', top.lineno)}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = (node.names[0].name if isinstance(node, ast.Import) else node.module or "").split(
                    "."
                )[0]
                if module not in ALLOWED_PACKAGES and module not in sys.stdlib_module_names:
                    effects.append(
                        Effect("import", line, f"imports {module}: model.py may import only torch", True)
                    )
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id == "print":
                    effects.append(Effect("print", line, "calls print()", True))
                elif isinstance(func, ast.Attribute) and func.attr == "cuda":
                    effects.append(
                        Effect("cuda", line, "calls .cuda(): fails without a GPU; use device=x.device", True)
                    )
                elif isinstance(func, ast.Attribute) and func.attr in ("filterwarnings", "simplefilter"):
                    effects.append(Effect("warnings", line, f"calls warnings.{func.attr}()", True))
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.match(r"cuda(:\d+)?$", node.value)
            ):
                effects.append(
                    Effect("cuda", line, f"device literal '{node.value}': use device=x.device", True)
                )
    return _unique(effects)


def _unique(effects: list[Effect]) -> list[Effect]:
    seen, out = set(), []
    for e in effects:
        if (e.kind, e.detail) not in seen:
            seen.add((e.kind, e.detail))
            out.append(e)
    return out


def probe_file(
    path: Path, cls: str, limits: Limits, catalog: Catalog, replacing: Path | None = None
) -> Observed:
    """Probe ``cls`` of ``path`` in the worker; the observed contract with static side effects."""
    (result,) = probe_files([(path, cls)], limits, replacing=replacing)
    if isinstance(result, ProbeError):
        raise result
    return result


def probe_files(
    targets: list[tuple[Path, str]], limits: Limits, replacing: Path | None = None
) -> list[Observed | ProbeError]:
    """Probe several classes in one worker (one torch import): each one's contract, or why not.
    What can be told from the source alone (it does not parse, its names collide with the
    catalog's) is told before any of its code runs."""
    texts: dict[int, str] = {}
    results: list[Observed | ProbeError | None] = []
    for index, (path, cls) in enumerate(targets):
        try:
            texts[index] = path.read_text(encoding="utf-8")
            results.append(_before_running(path, cls, texts[index], replacing))
        except (OSError, UnicodeDecodeError) as exc:
            results.append(ProbeError(f"{path}: cannot read it ({exc}); nothing was written"))
    todo = [i for i, r in enumerate(results) if r is None]
    jobs = [
        {"file": str(targets[i][0].resolve()), "class": targets[i][1], "build": None, "widths": widths(),
         "sizes": [list(s) for s in SIZES]}
        for i in todo
    ]  # fmt: skip
    records = run_worker(jobs, limits) if jobs else {"jobs": [], "network": ""}
    for i, record in zip(todo, records["jobs"]):
        path, cls = targets[i]
        try:
            results[i] = _observed(path, cls, texts[i], record, limits, records["network"])
        except ProbeError as exc:
            results[i] = exc
    return [r for r in results if r is not None]


def _before_running(path: Path, cls: str, text: str, replacing: Path | None) -> ProbeError | None:
    try:
        ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        return ProbeError(
            f"{path} does not import: SyntaxError: {exc.msg} (line {exc.lineno}); nothing was written"
        )
    clashes = inline.user_clashes(path, [cls], text, replacing=replacing)
    if clashes:
        return ProbeError(
            f"{path} defines {clashes[0]}, as a catalog module does: inlined into one model.py they would "
            "collide; rename it in your file; nothing was written"
        )
    return None


def _observed(
    path: Path, cls: str, text: str, record: Mapping[str, Any], limits: Limits, network: str
) -> Observed:
    static = scan(path, text, [cls])
    try:
        observed = infer(record, cls, str(path), limits)
    except ProbeError:
        imports = [e.detail for e in static if e.kind == "import"]
        if imports and (record.get("stop") or {}).get("kind") == "import":
            message = record["stop"]["message"]
            raise ProbeError(
                f"{path} does not import: {message} ({imports[0]}); nothing was written"
            ) from None
        raise
    observed.network = network
    runtime_kinds = {e.kind for e in observed.effects}
    observed.effects = _unique(
        observed.effects + [e for e in static if e.kind not in runtime_kinds or e.blocking]
    )
    return observed


def describe_limits(limits: Limits) -> str:
    return (
        f"in a subprocess: {limits.timeout:g} s limit, {limits.call_timeout:g} s per call, "
        f"{limits.memory_mb} MiB memory cap, no network"
    )
