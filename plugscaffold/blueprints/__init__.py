"""The blueprint registry: one module per architecture, each declaring a :class:`Blueprint`.

Everything the rest of plugscaffold knows about an architecture comes from here: its
name and help, its size options (defaults, ranges, presets), the catalog slots it uses
and their defaults, where ``--attn`` can place modules, the task it is trained for, the
output it produces, its template and the shape of its diagram. ``spec``, ``smoke``,
``report``, ``project``, ``homework``, ``cli``, ``sync`` (copier.yml) and ``render`` read
these records; no file outside ``blueprints/`` and ``templates/`` names an architecture
(tests/test_registry.py enforces it).

Adding an architecture
----------------------
1. ``plugscaffold/blueprints/NAME.py`` defines ``BLUEPRINT = Blueprint(name="NAME", ...)``
   and its planner ``plan(spec, catalog) -> Plan`` (see unet.py, resnet.py). Modules are
   discovered by name; a module starting with ``_`` is a helper, not an architecture.
2. ``templates/NAME/model.py.jinja`` renders the Plan (wiring only, no arithmetic).
3. Tests: the parametrized registry, smoke and property tests pick the blueprint up; add
   reference-equality tests for its presets.

Options are validated here (type, range, choices) before the planner runs; the planner
reads them as ``spec.NAME``. A classifier blueprint can also serve as a UNet encoder by
setting ``encoder`` (see :class:`EncoderStages`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from ..errors import PlanError, SpecError, did_you_mean, shorten

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..plan import Plan
    from ..spec import Spec

#: What a model returns: per-pixel logits at the input size, or one logit vector per image.
OUTPUTS = {
    "mask": "(B, classes, H, W) logits at the input size",
    "logits": "(B, classes) logits, one vector per image",
}
TASKS = ("segmentation", "classification")
DIAGRAMS = ("u", "chain")


@dataclass(frozen=True)
class Option:
    """A size option (``--NAME``): an int in [low, high] or one of ``choices``.

    ``default`` may be a :class:`ByOption` of an option resolved before this one (e.g. a
    default that depends on a depth preset).
    """

    name: str
    default: Any
    help: str
    low: int | None = None
    high: int | None = None
    choices: tuple[Any, ...] | Callable[[], tuple[Any, ...]] = ()
    kind: type = int
    #: kept by the report's "default model of the same size" (False: a design choice)
    baseline: bool = True

    @property
    def flag(self) -> str:
        return f"--{self.name.replace('_', '-')}"

    def allowed(self) -> tuple[Any, ...]:
        return self.choices() if callable(self.choices) else self.choices

    def default_for(self, resolved: Mapping[str, Any]) -> Any:
        return self.default(resolved) if callable(self.default) else self.default

    def parse(self, value: Any) -> Any:
        """``value`` checked and converted; SpecError (one line) when it does not fit."""
        if self.kind is int:
            try:
                value = int(value)
            except (TypeError, ValueError, OverflowError):
                raise SpecError(f"{self.flag} must be an integer, got '{shorten(value)}'") from None
        elif not isinstance(value, str):  # from a corrupted answers file
            raise SpecError(f"{self.flag} must be a name, got {shorten(value)}")
        allowed = self.allowed()
        if allowed and value not in allowed:
            listed = ", ".join(map(str, allowed))
            hint = did_you_mean(str(value), map(str, allowed))
            raise SpecError(f"{self.flag} must be one of {listed}, got '{shorten(value)}'{hint}")
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            raise SpecError(f"{self.flag} must be between {self.low} and {self.high}, got {value}")
        return value


@dataclass(frozen=True)
class ByOption:
    """A default that follows an earlier option: ``table[value of option]``, else
    ``otherwise`` (ResNet's block by --depth: residual for 18 and 34, bottleneck from 50;
    the UNet's width with an --encoder). Declarative, so copier.yml can render it too."""

    option: str
    table: Mapping[Any, Any]
    otherwise: Any = None  # for values not in the table

    def __call__(self, sizes: Mapping[str, Any]) -> Any:
        value = sizes[self.option]
        return self.table[value] if value in self.table or self.otherwise is None else self.otherwise


@dataclass(frozen=True)
class EncoderStages:
    """A classifier's feature stages, for a UNet on a classifier encoder.

    ``layers`` are the classifier's own layers up to its last stage (the UNet puts them
    under ``encoder.``, with the classifier's state_dict keys); ``taps`` are the tensors
    the decoder reads as skips, shallowest first, each with its Shape; ``stem`` the layer
    attributes that run on the input before the first tap.

    A classifier whose layers live in containers (torchvision's ``features.3``) sets ``body``,
    a template that renders the encoder class itself, and ``steps``: its forward, one
    ``(key, layer attr, call, Shape, cut)`` per line, where a tap may name a step inside a layer
    (DenseNet's transition, tapped after its norm and activation as smp does); ``cut`` is that
    layer's code when the encoder ends at this step (only the modules that run, same keys).
    """

    layers: tuple[Any, ...]
    taps: tuple[tuple[str, Any], ...]
    class_name: str
    template: str = ""  # a template of classes the encoder needs (e.g. "resnet/block.py.jinja")
    extra: Mapping[str, Any] = field(default_factory=dict)  # that template's context
    helpers: tuple[str, ...] = ()
    doc: str = ""
    body: str = ""  # a template rendering the encoder class (else the UNet template's own)
    steps: tuple[tuple[str, str, str, Any, str], ...] = ()  # (key, layer attr, call, Shape, cut) per line


@dataclass(frozen=True)
class Blueprint:
    """Everything plugscaffold knows about one architecture."""

    name: str
    title: str  # how prose names it: "UNet", "ResNet"
    help: str
    task: str  # one of TASKS: what --project trains it for
    output: str  # one of OUTPUTS
    options: tuple[Option, ...]
    slots: tuple[str, ...]  # catalog slots it reads; an option for any other slot is refused
    positions: Mapping[str, str]  # --attn position -> where it puts the module
    default_positions: tuple[str, ...]
    plan: Callable[[Spec, Catalog], Plan]
    diagram: str = "chain"  # one of DIAGRAMS: "u" (encoder/decoder facing) or "chain"
    #: slot -> default choice when it differs from the catalog's (a name, or a function of
    #: the resolved options returning one)
    slot_defaults: Mapping[str, Any] = field(default_factory=dict)
    is_default: bool = False  # the architecture when --arch is not given
    examples: tuple[str, ...] = ()
    #: named option sets, e.g. resnet34 -> {depth: 34}; a classifier's presets are the
    #: encoders a UNet can use
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Spec -> EncoderStages (classifiers usable as a UNet encoder)
    encoder: Callable[[Spec, Catalog], EncoderStages] | None = None
    resize: str | None = "width"  # the option varied to suggest a fix when a constraint fails

    @property
    def template(self) -> str:
        return f"{self.name}/model.py.jinja"

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def slot_default(self, slot: str, sizes: Mapping[str, Any], catalog: Catalog) -> str:
        default = self.slot_defaults.get(slot, catalog.slots[slot].default)
        return default(sizes) if callable(default) else default


@cache
def registry() -> dict[str, Blueprint]:
    """Every architecture, by name, from the modules of this package (in name order)."""
    found: dict[str, Blueprint] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        blueprint = getattr(module, "BLUEPRINT", None)
        if not isinstance(blueprint, Blueprint):
            raise TypeError(f"plugscaffold/blueprints/{info.name}.py defines no BLUEPRINT")
        _validate(blueprint, info.name)
        found[blueprint.name] = blueprint
    if sum(b.is_default for b in found.values()) != 1:
        raise TypeError("exactly one blueprint must set is_default=True")
    return found


def _validate(bp: Blueprint, module: str) -> None:
    where = f"plugscaffold/blueprints/{module}.py"
    if bp.name != module:
        raise TypeError(f"{where}: BLUEPRINT.name is '{bp.name}', expected '{module}'")
    if bp.task not in TASKS or bp.output not in OUTPUTS or bp.diagram not in DIAGRAMS:
        raise TypeError(
            f"{where}: task, output or diagram is not one of {TASKS}, {tuple(OUTPUTS)}, {DIAGRAMS}"
        )
    unknown = set(bp.default_positions) - set(bp.positions)
    if unknown:
        raise TypeError(f"{where}: default positions {sorted(unknown)} are not positions")


def names() -> list[str]:
    return list(registry())


def default_arch() -> str:
    return next(name for name, bp in registry().items() if bp.is_default)


def get(arch: str) -> Blueprint:
    """The blueprint of ``arch``; SpecError (one line, with a suggestion) when unknown."""
    try:
        return registry()[arch]
    except KeyError:
        known = names()
        raise SpecError(
            f"unknown architecture '{arch}'{did_you_mean(arch, known)}; choose one of {', '.join(known)}"
        ) from None


def all_options() -> dict[str, list[tuple[Blueprint, Option]]]:
    """Option name -> the blueprints that take it (for CLI flags and copier questions)."""
    found: dict[str, list[tuple[Blueprint, Option]]] = {}
    ordered = sorted(registry().values(), key=lambda bp: not bp.is_default)  # the default's order first
    for bp in ordered:
        for option in bp.options:
            found.setdefault(option.name, []).append((bp, option))
    return found


def option_names() -> tuple[str, ...]:
    """Every model option that is not a slot: 'arch' and the options some blueprint takes
    (the one list the CLI, homework specs and ablation studies accept)."""
    return ("arch", *all_options())


def encoders() -> dict[str, tuple[Blueprint, Mapping[str, Any]]]:
    """Preset name -> (classifier blueprint, options), for every blueprint usable as an encoder."""
    return {
        preset: (bp, options)
        for bp in registry().values()
        if bp.encoder is not None
        for preset, options in bp.presets.items()
    }


def make_plan(spec: Spec, catalog: Catalog) -> Plan:
    """Plan ``spec``; when a channel constraint fails, suggest a size that satisfies it."""
    blueprint = get(spec.arch)
    try:
        return blueprint.plan(spec, catalog)
    except PlanError as exc:
        fix = _size_fix(blueprint, spec, catalog)
        other = f"another --{exc.slot}" if exc.slot else "other modules"
        flag = blueprint.option(blueprint.resize).flag if blueprint.resize else ""
        hint = f"; fix: use {flag} {fix} or choose {other}" if fix else f"; fix: choose {other}"
        raise PlanError(f"{exc}{hint}", slot=exc.slot) from None


def _size_fix(blueprint: Blueprint, spec: Spec, catalog: Catalog) -> int | None:
    """The nearest value of the blueprint's ``resize`` option (above, then below) that plans cleanly."""
    key = blueprint.resize
    if key is None or not isinstance(spec.size(key), int):
        return None
    current = spec.size(key)
    candidates = sorted(range(8, 4 * current + 1, 8), key=lambda w: (abs(w - current), -w))
    for value in candidates:
        if value == current:
            continue
        try:
            blueprint.plan(spec.with_sizes(**{key: value}), catalog)
        except PlanError:
            continue
        return value
    return None


__all__ = [
    "OUTPUTS",
    "Blueprint",
    "EncoderStages",
    "Option",
    "all_options",
    "default_arch",
    "encoders",
    "get",
    "make_plan",
    "names",
    "option_names",
    "registry",
]
