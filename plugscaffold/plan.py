"""The Plan: every layer with literal constructor arguments, and the channel algebra.

Blueprints (one per architecture) build Plans by calling :func:`place` for every slot
position. ``place`` is the one resolver over the catalog's contracts: it checks the
constraints, evaluates the channel rule and formats the constructor call. No module
name is special-cased anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from . import expr
from .catalog import Catalog, Entry
from .errors import PlanError
from .spec import Spec


@dataclass(frozen=True)
class Shape:
    """A feature map: ``channels`` at 1 / 2**``level`` of the (padded) input size."""

    channels: int
    level: int

    @property
    def text(self) -> str:
        if self.level == 0:
            return f"(B, {self.channels}, H, W)"
        d = 2**self.level
        return f"(B, {self.channels}, H/{d}, W/{d})"

    def at(self, batch: int, height: int, width: int) -> tuple[int, int, int, int]:
        d = 2**self.level
        return (batch, self.channels, height // d, width // d)


@dataclass(frozen=True)
class Layer:
    """One submodule of the model and the forward line that calls it."""

    attr: str
    code: str
    stage: str
    inputs: tuple[str, ...]
    output: str
    shape: Shape
    module: str
    entry: Entry | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Hook:
    """A function the blocks call for a slot (e.g. ``conv3x3``); its body is the choice."""

    name: str
    code: str
    entry: Entry


@dataclass(frozen=True)
class Plan:
    spec: Spec
    class_name: str
    summary: str
    doc: str
    layers: tuple[Layer, ...]
    hooks: tuple[Hook, ...]
    helpers: tuple[str, ...]
    input: Shape
    divisor: int
    result: str
    notes: tuple[str, ...] = field(default=())

    @property
    def output(self) -> Shape:
        return self.layers[-1].shape

    @property
    def entries(self) -> list[Entry]:
        """The catalog entries used, each once, in order of first use."""
        seen: dict[str, Entry] = {}
        for item in [*self.hooks, *self.layers]:
            if item.entry is not None:
                seen.setdefault(item.entry.name, item.entry)
        return list(seen.values())

    @property
    def projections(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.comment]

    @property
    def class_names(self) -> list[str]:
        """Plug-in classes and helpers to inline, in first-use order."""
        names = list(self.helpers)
        for entry in self.entries:
            names += [c for c in entry.classes if c not in names]
        return names


def literal(value: Any) -> str:
    """Python source for a hyper-parameter value."""
    return repr(value)


def params_of(spec: Spec, catalog: Catalog, slot: str) -> tuple[Entry | None, dict[str, Any]]:
    """The entry chosen for ``slot`` and its full hyper-parameters (defaults + overrides)."""
    choice = spec.choice(slot)
    entry = catalog.lookup(slot, choice.name)
    if entry is None:
        return None, {}
    return entry, entry.resolve_params(dict(choice.overrides), f"--{slot} {choice.text}")


@dataclass(frozen=True)
class Placed:
    code: str
    out_channels: int


def place(
    entry: Entry,
    params: Mapping[str, Any],
    *,
    where: str,
    in_channels: int,
    out_channels: int | None = None,
    skip_channels: int | None = None,
) -> Placed:
    """Check ``entry``'s constraints at this position and resolve its output channels."""
    env = {**params, "in_channels": in_channels, "out_channels": out_channels, "skip_channels": skip_channels}
    for constraint in entry.contract.constraints:
        if not expr.evaluate(constraint.check, env):
            got = ", ".join(f"{n}={env[n]}" for n in sorted(expr.names(constraint.check)))
            raise PlanError(
                f"{where}: '{entry.name}' needs {constraint.check} ({constraint.reason}), but {got}",
                slot=entry.slot,
            )
    channels = expr.evaluate(entry.contract.channels, env)
    fields = {k: (v if k in ("in_channels", "out_channels", "skip_channels") else literal(v)) for k, v in env.items()}
    return Placed(entry.build.format(**fields), channels)


def hook_code(entry: Entry, params: Mapping[str, Any]) -> str:
    """``entry``'s constructor call with symbolic channel arguments, for a hook body."""
    fields = {k: literal(v) for k, v in params.items()}
    fields.update({name: name for name in ("in_channels", "out_channels", "skip_channels")})
    return entry.build.format(**fields)
