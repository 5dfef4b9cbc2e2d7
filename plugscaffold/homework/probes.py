"""Constructor calls derived from the catalog: reference configurations and constraint probes."""

from __future__ import annotations

import ast
import itertools
from typing import Any, Iterable, Mapping

from .. import expr
from ..catalog import CHANNEL_VARS, Entry
from ..plan import literal
from .records import Call, Count, Probe


def parse_call(code: str, classes: Iterable[str]) -> Call | None:
    """``Name(literal, key=literal)`` (the catalog's build text) -> Call; None otherwise."""
    try:
        call = ast.parse(code, mode="eval").body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in classes):
            return None
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except (SyntaxError, ValueError):
        return None
    return Call(call.func.id, args, kwargs)


def _build(entry: Entry, env: Mapping[str, Any]) -> str:
    fields = {k: (v if k in CHANNEL_VARS else literal(v)) for k, v in env.items()}
    return entry.build.format(**fields)


def _reference_env(entry: Entry, config: Mapping[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = {name: p.default for name, p in entry.params.items()}
    env.update({k: v for k, v in config.items() if k in entry.params})
    env.update({c: config.get(c) for c in CHANNEL_VARS})
    return env


def reference_calls(entry: Entry) -> list[Count]:
    """The catalog's reference configurations, with the parameter count measured on the official code.

    ``count`` is the catalog's figure here; the survey worker replaces it by the solution's.
    """
    calls: list[Count] = []
    for ref in entry.reference:
        call = parse_call(_build(entry, _reference_env(entry, ref.config)), entry.classes)
        if call and all(c.call != call for c in calls):
            calls.append(Count(call, ref.params or 0, ref.params))
    return calls


def _candidates(entry: Entry, name: str, base: Any) -> list[Any]:
    if name in CHANNEL_VARS:
        return [] if base is None else [1, 2, 3, 4, 5, 6, 7, 8, 12, 30, 48]
    param = entry.params[name]
    if param.choices is not None:
        return list(param.choices)
    if param.type == "bool":
        return [False, True]
    if param.type == "int":
        values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64]
        return [
            v
            for v in values
            if (param.min is None or v >= param.min) and (param.max is None or v <= param.max)
        ]
    return []


def probes(entry: Entry) -> list[Probe]:
    """For every constraint, a constructor call that breaks it (the module must raise ValueError).

    Starting from the catalog's first reference configuration, one and then two arguments are
    varied; a call that breaks only this constraint is preferred. The survey worker keeps the
    calls for which the reference solution does raise ValueError.
    """
    if not entry.reference or not entry.contract.constraints:
        return []
    base = _reference_env(entry, entry.reference[0].config)
    names = [n for n in base if _candidates(entry, n, base[n])]
    found_probes = []
    for constraint in entry.contract.constraints:
        found, fallback = None, None
        changes = [((n, v),) for n in names for v in _candidates(entry, n, base[n])]
        changes += [
            ((a, va), (b, vb))
            for a, b in itertools.combinations(names, 2)
            for va in _candidates(entry, a, base[a])
            for vb in _candidates(entry, b, base[b])
        ]
        for change in changes:
            env = {**base, **dict(change)}
            try:
                if expr.evaluate(constraint.check, env):
                    continue
                others = all(
                    expr.evaluate(c.check, env) for c in entry.contract.constraints if c is not constraint
                )
            except (expr.ExprError, ZeroDivisionError, TypeError):
                continue
            if others:
                found = env
                break
            fallback = fallback or env
        env = found or fallback
        call = parse_call(_build(entry, env), entry.classes) if env else None
        if call:
            found_probes.append(Probe(call, f"{constraint.check}: {constraint.reason}"))
    return found_probes
