"""What a probe observed and what it means: the records (the limits a probe runs under, a side
effect it saw, the contract it observed) and :func:`infer`, which turns the worker's record of
one class into its contract. ``add --check`` (check.py) reads its records with the same helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .. import expr
from ..errors import ProbeError

LAYOUT_NAMES = {
    "NCHW": "NCHW (B, C, H, W)",
    "tokens": "tokens (B, N, C)",
    "NHWC": "channels-last (B, H, W, C)",
}


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
            ("channels", f"{rule_words(self.channels)} (e.g. {self.example})" if self.channels else "-"),
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


def rule_words(rule: str | None) -> str:
    words = {
        "in_channels": "keeps its channels",
        "out_channels": "in -> out (takes out_channels)",
        "2 * in_channels": "doubles its channels",
        "in_channels + skip_channels": "sum of its inputs' channels",
    }
    return words.get(rule or "", f"output channels = {rule}")


# --- inference ---------------------------------------------------------------------------------


def channels_of(shape: Any, layout: str) -> int | None:
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
        raise ProbeError(stop_message(stop, cls, where, limits))
    layout, inputs = record["layout"], record["inputs"]
    args = record["args"]
    ok = [t for t in record["widths"] if t["ok"] and channels_of(t["out"], layout) is not None]
    observed = Observed(
        cls=cls, in_arg=args["in"], out_arg=args["out"], how=args["how"], inputs=inputs, layout=layout,
        scale=scale_of(record), channels=None, residual=record.get("residual"),
        params=dict(args.get("params") or {}),
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
        if ok and all(_evaluate(rule, t) == channels_of(t["out"], layout) for t in ok):
            observed.channels = rule
            break
    example = next((t for t in ok if t["in"] == 32 and t["out_arg"] != 32), None) if args["out"] else None
    example = example or next((t for t in ok if t["in"] == 32), ok[0] if ok else None)
    if example:
        observed.example = f"{example['in']} -> {channels_of(example['out'], layout)}"
    _width_constraints(observed, record["widths"])
    _size_facts(observed, record)
    observed.effects = [runtime_effect(e) for e in record.get("effects", [])]
    return observed


def _evaluate(rule: str, trial: Mapping[str, Any]) -> Any:
    env = {"in_channels": trial["in"], "out_channels": trial["out_arg"], "skip_channels": trial["skip"]}
    return expr.evaluate(rule, env)


def stop_message(
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


def scale_of(record: Mapping[str, Any]) -> float | None:
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


def runtime_effect(raw: list[str]) -> Effect:
    kind, phase, detail = raw
    where = f"seen in its {phase}"
    if kind == "print":
        return Effect(kind, where, f"prints ({detail})", blocking=False)
    if kind == "cuda":
        return Effect(kind, where, f"calls {detail}: fails on a machine without a GPU", blocking=True)
    return Effect(kind, where, f"changes warnings filters: {detail}", blocking=False)
