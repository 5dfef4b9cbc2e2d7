"""The Plan: every layer with literal constructor arguments, and the channel algebra.

Blueprints (one per architecture) build Plans by calling :func:`place` for every slot
position. ``place`` is the one resolver over the catalog's contracts: it checks the
constraints, evaluates the channel rule and formats the constructor call. No module
name is special-cased anywhere.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from . import expr
from .catalog import Catalog, Entry
from .choice import resolve_choice
from .errors import PlanError
from .options import Check
from .placement import Leaf, ParallelTerm, SerialTerm, Term
from .spec import Spec


@dataclass(frozen=True)
class Shape:
    """What a layer produces: a feature map of ``channels`` at 1 / 2**``level`` of the
    (padded) input size; with ``kind`` "pooled" a (B, C, 1, 1) map after global pooling,
    with "vector" a (B, C) tensor (features or logits). Strided layers round up, as a
    stride-2 convolution with padding does."""

    channels: int
    level: int
    kind: str = "map"  # "map", "pooled" or "vector"

    @property
    def text(self) -> str:
        if self.kind == "vector":
            return f"(B, {self.channels})"
        if self.kind == "pooled":
            return f"(B, {self.channels}, 1, 1)"
        if self.level == 0:
            return f"(B, {self.channels}, H, W)"
        d = 2**self.level
        return f"(B, {self.channels}, H/{d}, W/{d})"

    def at(self, batch: int, height: int, width: int) -> tuple[int, ...]:
        if self.kind == "vector":
            return (batch, self.channels)
        if self.kind == "pooled":
            return (batch, self.channels, 1, 1)
        return (batch, self.channels, reduced(height, self.level), reduced(width, self.level))


def reduced(size: int, level: int) -> int:
    """``size`` after ``level`` stride-2 steps that round up (the same as exact halving
    for inputs padded to a multiple of 2**level)."""
    for _ in range(level):
        size = -(-size // 2)
    return size


@dataclass(frozen=True)
class Need:
    """A module's smallest feature map (``size`` x ``size``), and why."""

    module: str
    size: int
    reason: str


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
    entries: tuple[Entry, ...] = ()
    notes: tuple[str, ...] = ()  # why a 1x1 projection is part of this layer
    classes: tuple[str, ...] = ()  # helper classes beyond the entries' own (composition)
    needs: tuple[Need, ...] = ()  # smallest feature maps its modules accept
    #: a layer returning several tensors (an encoder's features): (name, shape) of all but
    #: the last; ``output`` is then "a, b, x" and ``shape`` that of the last
    taps: tuple[tuple[str, Shape], ...] = ()

    @property
    def outputs(self) -> list[tuple[str, Shape]]:
        """(variable, shape) of every tensor this layer's forward line assigns."""
        names = [n.strip() for n in self.output.split(",")]
        shapes = dict(self.taps)
        return [(name, shapes.get(name, self.shape)) for name in names]


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
    #: False: the model takes any size as it is (strided layers round up) instead of padding
    #: the input to a multiple of ``divisor``
    pads: bool = True
    #: what the architecture's template needs beyond the layers
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> Shape:
        return self.layers[-1].shape

    @property
    def entries(self) -> list[Entry]:
        """The catalog entries used, each once, in order of first use."""
        seen: dict[str, Entry] = {}
        for entry in [h.entry for h in self.hooks] + [e for layer in self.layers for e in layer.entries]:
            seen.setdefault(entry.key, entry)
        return list(seen.values())

    @property
    def projections(self) -> list[tuple[str, str]]:
        """(layer, reason) for every 1x1 projection the Plan inserted."""
        return [(layer.attr, note) for layer in self.layers for note in layer.notes]

    @property
    def class_names(self) -> list[str]:
        """Plug-in classes and helpers to inline, in first-use order."""
        names = list(self.helpers)
        for layer in self.layers:
            names += [c for c in layer.classes if c not in names]
        for entry in self.entries:
            names += [c for c in entry.classes if c not in names]
        return names


def chosen_plugins(plan: Plan, catalog: Catalog) -> list[Entry]:
    """The catalog entries the user chose; the architecture's slot defaults make up the
    classic architecture (attention is always a choice)."""
    spec = plan.spec
    classic = {slot: text.split(":", 1)[0] for slot, text in spec.defaults if spec.choice(slot).text == text}
    return [e for e in plan.entries if classic.get(e.slot, catalog.slots[e.slot].default) != e.name]


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
class Composed:
    """A composition's constructor call, what it uses, and the projections inside it."""

    code: str
    entries: tuple[Entry, ...]
    classes: tuple[str, ...]
    notes: tuple[str, ...]
    needs: tuple[Need, ...] = ()


def build_attention(node: Term, catalog: Catalog, channels: int, where: str) -> Composed:
    """Constructor code for an attention expression at a position with ``channels``."""
    if isinstance(node, Leaf):
        entry, overrides, _ = resolve_choice(catalog, "attn", node.text, where)
        placed = place(entry, entry.resolve_params(dict(overrides), where), where=where, in_channels=channels)
        return Composed(placed.code, (entry,), (), (), placed.needs)
    if isinstance(node, SerialTerm):
        parts = [build_attention(step, catalog, channels, where) for step in node.steps]
        return _combine("Serial", node.steps, parts, [])
    if isinstance(node, ParallelTerm):
        parts = [build_attention(branch, catalog, channels, where) for branch in node.branches]
        extra = []
        if node.merge.name == "cat":
            n = len(parts)
            extra.append(_merge("ConcatProject", f"ConcatProject({n * channels}, {channels})"))
        elif node.merge.name != "sum":
            if len(parts) != 2:
                raise PlanError(
                    f"{where}: '~{node.merge.name}' fuses exactly two branches, got {len(parts)}", slot="attn"
                )
            extra.append(_fusion(node.merge.text, catalog, channels, where))
        return _combine("Parallel", node.branches, parts, extra)
    body = build_attention(node.body, catalog, channels, where)
    extra = [_fusion(node.merge.text, catalog, channels, where)] if node.merge else []
    merged = f", merge={extra[0].code}" if extra else ""
    return Composed(
        f"Residual({body.code}{merged})",
        body.entries + sum((e.entries for e in extra), ()),
        ("Residual",) + body.classes + sum((e.classes for e in extra), ()),
        body.notes + sum((e.notes for e in extra), ()),
        body.needs + sum((e.needs for e in extra), ()),
    )


def _merge(cls: str, code: str) -> Composed:
    return Composed(code, (), (cls,), ())


def _fusion(text: str, catalog: Catalog, channels: int, where: str) -> Composed:
    """A skip-slot module merging two tensors of ``channels``, projected back if it changes them."""
    entry, overrides, _ = resolve_choice(catalog, "skip", text, where)
    params = entry.resolve_params(dict(overrides), where)
    placed = place(entry, params, where=where, in_channels=channels, skip_channels=channels)
    if placed.out_channels == channels:
        return Composed(placed.code, (entry,), (), (), placed.needs)
    note = (
        f"1x1 projection: {entry.name} merges to {placed.out_channels} channels, "
        f"the position keeps {channels}"
    )
    code = f"FuseProject({placed.code}, {placed.out_channels}, {channels})"
    return Composed(code, (entry,), ("FuseProject",), (note,), placed.needs)


def _combine(cls: str, nodes: tuple[Term, ...], parts: list[Composed], extra: list[Composed]) -> Composed:
    names = _child_names(nodes)
    args = [f"{name}={part.code}" for name, part in zip(names, parts)]
    args += [f"merge={e.code}" for e in extra]
    everything = parts + extra
    return Composed(
        f"{cls}({', '.join(args)})",
        sum((p.entries for p in everything), ()),
        (cls,) + sum((p.classes for p in everything), ()),
        sum((p.notes for p in everything), ()),
        sum((p.needs for p in everything), ()),
    )


def _child_names(nodes: tuple[Term, ...]) -> list[str]:
    """Keyword names for children: the module's name, or the composition's kind; numbered if repeated."""
    base = [n.name if isinstance(n, Leaf) else n.module.lower() for n in nodes]
    base = [f"{b}_" if keyword.iskeyword(b) else b for b in base]  # nonlocal -> nonlocal_
    return [f"{b}{base[:i].count(b) + 1}" if base.count(b) > 1 else b for i, b in enumerate(base)]


@dataclass(frozen=True)
class Placed:
    code: str
    out_channels: int
    needs: tuple[Need, ...] = ()


def place(
    entry: Entry,
    params: Mapping[str, Any],
    *,
    where: str,
    in_channels: int,
    out_channels: int | None = None,
    skip_channels: int | None = None,
    names: Mapping[str, str] | None = None,
) -> Placed:
    """Check ``entry``'s constraints at this position and resolve its output channels.

    ``names`` emits a channel argument as a Python name instead of its number (the model's
    ``in_channels`` argument at the input); the number still drives every check.
    """
    env = {**params, "in_channels": in_channels, "out_channels": out_channels, "skip_channels": skip_channels}
    for constraint in entry.contract.constraints:
        if not expr.evaluate(constraint.check, env):
            got = ", ".join(f"{n}={env[n]}" for n in sorted(expr.names(constraint.check)))
            raise PlanError(
                f"{where}: '{entry.name}' needs {constraint.check} ({constraint.reason}), but {got}",
                slot=entry.slot,
            )
    channels = expr.evaluate(entry.contract.channels, env)
    fields = {
        k: (v if k in ("in_channels", "out_channels", "skip_channels") else literal(v))
        for k, v in env.items()
    }
    fields.update(names or {})
    smallest = entry.contract.min_size
    needs = (Need(entry.name, int(expr.evaluate(smallest.size, env)), smallest.reason),) if smallest else ()
    return Placed(entry.build.format(**fields), channels, needs)


def callee(code: str) -> str:
    """The class or function a constructor call names: ``DoubleConv(3, 64)`` -> ``DoubleConv``."""
    return code.split("(", 1)[0]


def inner_conv_needs(
    block: tuple[Entry, Mapping[str, Any]],
    conv: tuple[Entry, Mapping[str, Any]],
    norm: tuple[Entry, Mapping[str, Any]],
    in_channels: int,
    out_channels: int,
    stage: str,
) -> tuple[Need, ...]:
    """The conv and norm slots' contracts at every 3x3 conv inside a block-slot module (its
    ``convs``, evaluated for ``in_channels`` -> ``out_channels``), and their size needs."""
    entry, params = block
    env = {**params, "in_channels": in_channels, "out_channels": out_channels}
    needs: tuple[Need, ...] = ()
    for a, b in entry.contract.convs:
        a, b = expr.evaluate(a, env), expr.evaluate(b, env)
        where = f"conv slot at {stage} (a {a} -> {b} conv inside '{entry.name}')"
        needs += place(*conv, where=where, in_channels=a, out_channels=b).needs
        needs += place(*norm, where=f"norm slot at {stage}", in_channels=b).needs
    return needs


def hook_code(entry: Entry, params: Mapping[str, Any]) -> str:
    """``entry``'s constructor call with symbolic channel arguments, for a hook body."""
    fields = {k: literal(v) for k, v in params.items()}
    fields.update({name: name for name in ("in_channels", "out_channels", "skip_channels")})
    return entry.build.format(**fields)


def _needs(plan: Plan):
    """(layer, need, level) for every smallest feature map a module declares; ``level`` is that
    of the layer's smallest input (the model pads the input to a multiple of ``plan.divisor``)."""
    levels = {"x": 0}
    for layer in plan.layers:
        level = max(levels[name] for name in layer.inputs)  # its smallest input
        levels.update({name: shape.level for name, shape in layer.outputs})
        for need in layer.needs:
            yield layer, need, level


def working_size(plan: Plan, check: Check) -> tuple[int, int]:
    """The (H, W) the model's first layer sees: padded to ``plan.divisor`` if the model pads."""
    return check.padded(plan.divisor) if plan.pads else (check.height, check.width)


def smallest_input(plan: Plan) -> int:
    """The smallest side that exercises every stage: a multiple of ``plan.divisor`` at which the
    deepest feature map is at least 2x2 (every 3x3 convolution and 2x2 resampling sees more than
    one pixel) and every module sees at least its declared smallest feature map."""
    side = max([2 * plan.divisor] + [need.size * 2**level for _, need, level in _needs(plan)])
    return -(-side // plan.divisor) * plan.divisor


def fit_check(plan: Plan, check: Check) -> Check:
    """``check`` with its input size: the one given (verified by :func:`check_size`), or else
    the smallest that exercises every stage, ``smallest_input`` high and one ``plan.divisor``
    wider, so that a module that confuses H and W fails the check."""
    if check.sized:
        check_size(plan, check)
        return check
    side = smallest_input(plan)
    return replace(check, height=side, width=side + plan.divisor, auto=True)


def check_size(plan: Plan, check: Check) -> None:
    """Stop (one line) when a module would see a feature map smaller than it accepts at the
    check's input size; the model pads the input to a multiple of ``plan.divisor`` first."""
    padded = working_size(plan, check)
    for layer, need, level in _needs(plan):
        seen = [reduced(n, level) for n in padded]
        if min(seen) < need.size:
            size = max(need.size * 2**level, plan.divisor)
            raise PlanError(
                f"{layer.stage}: '{need.module}' needs feature maps of at least {need.size}x{need.size} "
                f"({need.reason}), but at --size {check.height}x{check.width} "
                f"{layer.attr} sees {seen[0]}x{seen[1]}; "
                f"use --size {size} or larger, or place it at a shallower stage",
            )
