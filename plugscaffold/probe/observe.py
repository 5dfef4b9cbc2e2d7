"""Probing classes in the worker and inferring their contracts from what it records.

The class runs in ``plugscaffold/_probe_worker.py``, started like the homework grader's workers
(:func:`plugscaffold.homework.runner.start_worker`: own process group, killed with everything
it started at the time limit) and isolated like them (``_isolate.py``: memory cap, no network).
The worker only records what the code does at several widths, sizes and layouts; :func:`infer`
turns a record into the contract, :func:`scan` reads the source for side effects that break a
standalone model.py.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import expr, inline
from ..catalog import Catalog
from ..errors import ProbeError

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
LAYOUT_NAMES = {
    "NCHW": "NCHW (B, C, H, W)",
    "tokens": "tokens (B, N, C)",
    "NHWC": "channels-last (B, H, W, C)",
}
#: Packages a generated model.py may import besides the standard library.
ALLOWED_PACKAGES = ("torch",)


@dataclass(frozen=True)
class Limits:
    timeout: float = 120.0  # seconds for the whole probe
    call_timeout: float = 10.0  # seconds for one import, constructor or forward
    memory_mb: int = 4096


@dataclass(frozen=True)
class Effect:
    """Something the code does that a standalone model.py must not: where, and whether it blocks."""

    kind: str  # import, print, cuda, warnings
    where: str
    detail: str
    blocking: bool


@dataclass
class Observed:
    """The contract inferred from the probe, and what else it saw."""

    cls: str
    in_arg: str | None
    out_arg: str | None
    how: str | None
    inputs: int
    layout: str
    scale: float | None
    channels: str | None
    align: str | None = None
    constraints: list[tuple[str, str]] = field(default_factory=list)
    fixed_size: tuple[int, int] | None = None
    size_failures: list[str] = field(default_factory=list)
    width_failures: list[str] = field(default_factory=list)
    unexplained: str = ""
    residual: bool | None = None
    effects: list[Effect] = field(default_factory=list)
    network: str = ""
    example: str = ""  # channels at the example trial: '32 -> 64'
    params: dict[str, Any] = field(default_factory=dict)  # other constructor arguments' literal defaults

    def contract(self) -> dict[str, Any]:
        """The catalog contract (NCHW modules only)."""
        scale = int(self.scale) if self.scale is not None and self.scale == int(self.scale) else self.scale
        out: dict[str, Any] = {"inputs": self.inputs, "channels": self.channels, "scale": scale}
        out["layout"] = self.layout
        if self.align:
            out["align"] = self.align
        if self.constraints:
            out["constraints"] = [{"check": c, "reason": r} for c, r in self.constraints]
        return out

    def build(self) -> str:
        args = []
        if self.in_arg:
            args.append(f"{self.in_arg}={{in_channels}}")
        if self.out_arg:
            args.append(f"{self.out_arg}={{out_channels}}")
        args += [f"{name}={{{name}}}" for name in self.params]
        return f"{self.cls}({', '.join(args)})"

    def param_entries(self) -> dict[str, Any]:
        """The catalog's ``params``: one per constructor argument with a literal default."""
        names = {bool: "bool", int: "int", float: "float", str: "str"}
        return {
            name: {
                "type": names[type(value)],
                "default": value,
                "help": f"constructor argument of {self.cls}",
            }
            for name, value in self.params.items()
        }

    def lines(self) -> list[str]:
        """The contract as a person reads it."""
        scale = {0.5: "/2 (halves H and W)", 1: "x1 (keeps H and W)", 2: "x2 (doubles H and W)"}
        how = {"name": "by name", "trial": "by trial"}.get(self.how or "", "")
        arg = (
            f"{self.in_arg} ({how})" + (f", output channels: {self.out_arg}" if self.out_arg else "")
            if self.in_arg
            else "none (the module has no width argument)"
        )
        rows = [
            ("channel argument", arg),
            ("inputs", str(self.inputs)),
            ("layout", LAYOUT_NAMES.get(self.layout, self.layout)),
            ("spatial scale", scale.get(self.scale, str(self.scale)) if self.scale else "-"),
            ("fixed size", f"only {self.fixed_size[0]}x{self.fixed_size[1]}" if self.fixed_size else "no"),
            ("channels", f"{_rule_words(self.channels)} (e.g. {self.example})" if self.channels else "-"),
        ]
        if self.params:
            rows.append(("hyper-parameters", ", ".join(f"{k}={v!r}" for k, v in self.params.items())))
        if self.align:
            rows.append(("inputs", "must have equal channels"))
        for check, reason in self.constraints:
            rows.append(("constraint", f"{check}: {reason}"))
        for failure in self.size_failures[:2]:
            rows.append(("fails at", failure))
        if self.unexplained:
            rows.append(("fails at", self.unexplained))
        if self.residual:
            rows.append(
                ("residual", "hidden: the output is the input when every weight is zero (out = x + f(x))")
            )
        for effect in self.effects:
            refused = "refused: model.py would carry it" if effect.blocking else "reported"
            rows.append(("side effect", f"{effect.detail} ({effect.where}; {refused})"))
        from ..report import table

        return table([list(row) for row in rows])


def _rule_words(rule: str | None) -> str:
    words = {
        "in_channels": "keeps its channels",
        "out_channels": "in -> out (takes out_channels)",
        "2 * in_channels": "doubles its channels",
        "in_channels + skip_channels": "sum of its inputs' channels",
    }
    return words.get(rule or "", f"output channels = {rule}")


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


# --- inference ---------------------------------------------------------------------------------


def _channels_of(shape: Any, layout: str) -> int | None:
    if not isinstance(shape, list) or len(shape) < 2:
        return None
    return shape[1] if layout == "NCHW" else shape[-1]


RULES = (
    "in_channels",
    "out_channels",
    "2 * in_channels",
    "in_channels + skip_channels",
    "3 * in_channels",
    "4 * in_channels",
    "in_channels // 2",
    "in_channels // 4",
    "2 * out_channels",
)


def infer(record: Mapping[str, Any], cls: str, where: str, limits: Limits) -> Observed:
    """The contract behind one worker record; ProbeError when the class could not be probed."""
    stop = record.get("stop")
    if stop:
        raise ProbeError(_stop_message(stop, cls, where, limits))
    layout, inputs = record["layout"], record["inputs"]
    args = record["args"]
    ok = [t for t in record["widths"] if t["ok"] and _channels_of(t["out"], layout) is not None]
    observed = Observed(
        cls=cls, in_arg=args["in"], out_arg=args["out"], how=args["how"], inputs=inputs, layout=layout,
        scale=_scale(record), channels=None, residual=record.get("residual"), params=dict(args.get("params") or {}),
    )  # fmt: skip
    equal = {t["in"]: t for t in record["widths"] if t["in"] == t["out_arg"] == t["skip"]}
    if inputs == 2:
        unequal = [t for t in record["widths"] if t["in"] == t["out_arg"] and t["skip"] != t["in"]]
        if (
            unequal
            and not any(t["ok"] for t in unequal)
            and all(equal.get(t["in"], {}).get("ok") for t in unequal)
        ):
            observed.align = "equal"
    for rule in RULES:
        if observed.align and rule == "in_channels + skip_channels":
            continue
        if "out_channels" in rule and not args["out"] and args["how"] != "build":
            continue
        if ok and all(_evaluate(rule, t) == _channels_of(t["out"], layout) for t in ok):
            observed.channels = rule
            break
    example = next((t for t in ok if t["in"] == 32 and t["out_arg"] != 32), None) if args["out"] else None
    example = example or next((t for t in ok if t["in"] == 32), ok[0] if ok else None)
    if example:
        observed.example = f"{example['in']} -> {_channels_of(example['out'], layout)}"
    _width_constraints(observed, record["widths"])
    _size_facts(observed, record)
    observed.effects = [_runtime_effect(e) for e in record.get("effects", [])]
    return observed


def _evaluate(rule: str, trial: Mapping[str, Any]) -> Any:
    env = {"in_channels": trial["in"], "out_channels": trial["out_arg"], "skip_channels": trial["skip"]}
    return expr.evaluate(rule, env)


def _stop_message(
    stop: Mapping[str, str], cls: str, where: str, limits: Limits, tail: str = "; nothing was written"
) -> str:
    kind, message, phase = stop["kind"], stop["message"], stop["phase"]
    if kind == "import":
        return f"{where} does not import: {message}{tail}"
    if kind == "hang":
        return f"{cls} hangs: its {phase} {message}{tail}"
    if kind == "memory":
        return (
            f"{cls} exhausts memory in its {phase} (the probe's cap is {limits.memory_mb} MiB): "
            f"{message[:160]}{tail}"
        )
    return f"{cls}: {message}{tail}"  # it runs on no input tried, or no constructor call works


def _scale(record: Mapping[str, Any]) -> float | None:
    layout = record["layout"]
    ratios = set()
    for t in record["sizes"]:
        h, w = t["size"]
        if not t["ok"] or h % 2 or w % 2 or not isinstance(t["out"], list):
            continue
        if layout == "tokens":
            ratios.add(t["out"][1] / (h * w))
        elif layout == "NCHW" and len(t["out"]) == 4:
            ratios.add((t["out"][2] / h, t["out"][3] / w))
        elif len(t["out"]) == 4:
            ratios.add((t["out"][1] / h, t["out"][2] / w))
    if len(ratios) != 1:
        return None
    (ratio,) = ratios
    if isinstance(ratio, tuple):
        return ratio[0] if ratio[0] == ratio[1] else None
    return 1.0 if ratio == 1 else None


def _width_constraints(observed: Observed, trials: list[Mapping[str, Any]]) -> None:
    """Widths that fail, and the divisor that explains them (on in and/or out channels)."""
    equal = [t for t in trials if t["in"] == t["out_arg"] == t["skip"]]
    failed = [t for t in equal if not t["ok"]]
    passed = [t["in"] for t in equal if t["ok"]]
    if not failed:
        return
    bad = [t["in"] for t in failed]
    observed.width_failures = [f"{t['in']}: {t['error']}" for t in failed]
    divisor = next(
        (d for d in range(64, 1, -1) if all(w % d == 0 for w in passed) and all(w % d for w in bad)), None
    )
    if divisor and passed:
        error = failed[0]["error"]
        targets = ["in_channels"]
        if observed.out_arg:
            by_in = [t for t in trials if t["out_arg"] == 32 and t["in"] % divisor and t["in"] != 32]
            by_out = [t for t in trials if t["in"] == 32 and t["out_arg"] % divisor and t["out_arg"] != 32]
            targets = [
                name
                for name, ts in (("in_channels", by_in), ("out_channels", by_out))
                if not ts or not all(t["ok"] for t in ts)
            ] or ["in_channels"]
        for name in targets:
            observed.constraints.append(
                (f"{name} % {divisor} == 0", f"observed: widths {_listed(bad)} fail ({error[:120]})")
            )
        return
    if passed and max(bad) < min(passed):
        observed.constraints.append(
            (
                f"in_channels >= {min(passed)}",
                f"observed: widths {_listed(bad)} fail ({failed[0]['error'][:120]})",
            )
        )
        return
    observed.unexplained = (
        f"widths {_listed(bad)} fail with no common divisor to explain it: {failed[0]['error'][:160]}"
    )


def _listed(values: Iterable[int]) -> str:
    return ", ".join(str(v) for v in values)


def _size_facts(observed: Observed, record: Mapping[str, Any]) -> None:
    sizes = record["sizes"]
    good = [tuple(t["size"]) for t in sizes if t["ok"]]
    bad = [t for t in sizes if not t["ok"]]
    if len(good) == 1 and len(bad) >= 2:
        observed.fixed_size = good[0]
    observed.size_failures = [f"{t['size'][0]}x{t['size'][1]}: {t['error'][:120]}" for t in bad]


def _runtime_effect(raw: list[str]) -> Effect:
    kind, phase, detail = raw
    where = f"seen in its {phase}"
    if kind == "print":
        return Effect(kind, where, f"prints ({detail})", blocking=False)
    if kind == "cuda":
        return Effect(kind, where, f"calls {detail}: fails on a machine without a GPU", blocking=True)
    return Effect(kind, where, f"changes warnings filters: {detail}", blocking=False)


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
            f"{path} defines {clashes[0]}, as a catalog module does: inlined into one model.py they would collide; "
            "rename it in your file; nothing was written"
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
