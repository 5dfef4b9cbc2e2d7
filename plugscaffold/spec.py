"""The Spec: what the user asked for, parsed and validated against the catalog.

A slot choice is written ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]`` (see choice.py);
attention placements use the composition grammar of placement.py.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from .catalog import NONE, Catalog
from .choice import resolve_choice
from .errors import SpecError, did_you_mean, shorten
from .placement import Placement, parse_placement

if TYPE_CHECKING:
    from .blueprints import Blueprint

PLACED_SLOT = "attn"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: The longest project name (file systems allow 255 bytes; staging adds a prefix).
MAX_NAME = 100
#: The largest side of a check's input (--size), and of a recorded project size.
MAX_SIDE = 8192
#: The longest --attn value, and the deepest nesting of its parentheses.
MAX_ATTN_TEXT, MAX_ATTN_DEPTH = 2000, 16


@dataclass(frozen=True)
class Choice:
    """One slot's module and the hyper-parameters the user set (others keep defaults)."""

    slot: str
    name: str
    overrides: tuple[tuple[str, Any], ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Spec:
    """The architecture, its size options (``spec.depth``, ``spec.width``, ... as its
    blueprint declares them), a choice per slot it uses, and the attention placements."""

    name: str
    arch: str
    sizes: tuple[tuple[str, Any], ...] = field(default=())
    choices: tuple[Choice, ...] = field(default=())
    attn: tuple[Placement, ...] = field(default=())
    #: (slot, default choice text) for this architecture and size: what "classic" means
    defaults: tuple[tuple[str, str], ...] = field(default=())

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_") or key in ("sizes", "defaults", "choices", "attn"):
            raise AttributeError(key)
        for name, value in self.sizes:
            if name == key:
                return value
        raise AttributeError(f"architecture '{self.arch}' has no option '{key}'")

    def size(self, key: str) -> Any:
        """The value of size option ``key`` (None when the architecture has none)."""
        return dict(self.sizes).get(key)

    def with_sizes(self, **changes: Any) -> Spec:
        sizes = tuple((k, changes.get(k, v)) for k, v in self.sizes)
        return dataclasses.replace(self, sizes=sizes)

    def default(self, slot: str) -> str:
        """The default choice of ``slot`` for this architecture."""
        return dict(self.defaults)[slot]

    def choice(self, slot: str) -> Choice:
        for choice in self.choices:
            if choice.slot == slot:
                return choice
        raise KeyError(slot)

    def options(self) -> dict[str, Any]:
        """Every option as plain data (for the answers file and copier)."""
        data: dict[str, Any] = {"arch": self.arch}
        data.update(dict(self.sizes))
        data.update({c.slot: c.text for c in self.choices})
        data[PLACED_SLOT] = [p.text for p in self.attn] or NONE
        return data

    def command(self, catalog: Catalog) -> str:
        """The shortest ``plugscaffold new`` command that regenerates this Spec."""
        from . import blueprints

        blueprint = blueprints.get(self.arch)
        words = ["plugscaffold", "new", self.name]
        if not blueprint.is_default:
            words += ["--arch", self.arch]
        resolved: dict[str, Any] = {}
        for option in blueprint.options:
            value = self.size(option.name)
            if value != option.default_for(resolved):
                words += [option.flag, str(value)]
            resolved[option.name] = value
        for choice in self.choices:
            if choice.text != self.default(choice.slot):
                words += [f"--{choice.slot}", choice.text]
        suffix = "@" + ",".join(blueprint.default_positions)
        for placement in self.attn:
            words += [f"--{PLACED_SLOT}", placement.text.removesuffix(suffix)]
        return " ".join(words)


def make_spec(catalog: Catalog, name: str, options: Mapping[str, Any] | None = None) -> Spec:
    """Validate ``options`` (slot choices as strings, sizes as ints) into a Spec."""
    from . import blueprints

    options = {k: v for k, v in (options or {}).items() if v is not None}
    check_project_name(name)
    arch = options.pop("arch", None) or blueprints.default_arch()
    if not isinstance(arch, str):  # from a corrupted answers file
        raise SpecError(f"--arch must be an architecture name, got {shorten(arch)}")
    blueprint = blueprints.get(arch)
    # each step takes its options out of ``options``; what is left over is an error
    sizes = _sizes(blueprint, options)
    choices, defaults = _choices(catalog, blueprint, sizes, options)
    placements = _placements(catalog, blueprint, options)
    _refuse_other_options(catalog, blueprint, options)
    return Spec(
        name=name,
        arch=blueprint.name,
        sizes=tuple(sizes.items()),
        choices=tuple(choices),
        attn=tuple(placements),
        defaults=tuple(defaults),
    )


def _sizes(blueprint: Blueprint, options: dict[str, Any]) -> dict[str, Any]:
    """The architecture's size options, in its order (a default may follow an earlier option)."""
    sizes: dict[str, Any] = {}
    for option in blueprint.options:
        value = options.pop(option.name, None)
        sizes[option.name] = option.parse(option.default_for(sizes) if value is None else value)
    return sizes


def _choices(
    catalog: Catalog, blueprint: Blueprint, sizes: Mapping[str, Any], options: dict[str, Any]
) -> tuple[list[Choice], list[tuple[str, str]]]:
    """A Choice for every slot the architecture uses (but attention), and each slot's default."""
    choices, defaults = [], []
    for slot_name in catalog.slots:
        if slot_name == PLACED_SLOT or slot_name not in blueprint.slots:
            continue
        default = blueprint.slot_default(slot_name, sizes, catalog)
        text = options.pop(slot_name, None)
        if text is None:
            text = default
        elif not isinstance(text, str):  # from a corrupted answers file
            raise SpecError(f"--{slot_name} must be a module name such as '{default}', got {shorten(text)}")
        entry, overrides, canonical = resolve_choice(catalog, slot_name, text, f"--{slot_name} {text}")
        choices.append(Choice(slot_name, entry.name if entry else NONE, overrides, canonical))
        defaults.append((slot_name, default))
    return choices, defaults


def _placements(catalog: Catalog, blueprint: Blueprint, options: dict[str, Any]) -> list[Placement]:
    """The --attn placements (texts, or one text), each position taken at most once."""
    attn = options.pop(PLACED_SLOT, None) if PLACED_SLOT in blueprint.slots else None
    attn = [] if attn is None else [attn] if isinstance(attn, str) else attn
    if not isinstance(attn, (list, tuple)) or not all(isinstance(text, str) for text in attn):
        raise SpecError(f"--attn must be composition texts such as 'se@enc', got {shorten(attn)}")
    for text in attn:
        check_attn_text(text)
    placements = [
        parse_placement(text, catalog, blueprint.positions, blueprint.default_positions) for text in attn
    ]
    placements = [p for p in placements if p is not None]
    taken = [position for p in placements for position in p.positions]
    for position in set(taken):
        if taken.count(position) > 1:
            raise SpecError(
                f"--attn: position '{position}' is given twice; compose the modules instead "
                f"(e.g. --attn se+cbam@{position})"
            )
    return placements


def _refuse_other_options(catalog: Catalog, blueprint: Blueprint, options: Mapping[str, Any]) -> None:
    """An option left over is another architecture's (say which this one takes) or unknown."""
    from . import blueprints

    if not options:
        return
    key = next(iter(options))
    if isinstance(key, str) and (key in catalog.slots or key in blueprints.all_options()):
        uses = [*blueprint.slots, *(o.name for o in blueprint.options)]
        raise SpecError(
            f"--{key.replace('_', '-')} is not an option of --arch {blueprint.name}; "
            f"it takes {', '.join('--' + u.replace('_', '-') for u in uses)}"
        )
    known = [*catalog.slots, *blueprints.option_names()]
    raise SpecError(f"unknown option '{shorten(key)}'{did_you_mean(str(key), known)}")


def check_project_name(name: str) -> None:
    """A project name is a plain identifier: it names a directory and never escapes cwd."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SpecError(
            f"project name '{shorten(name)}' is not a safe identifier; use letters, digits and "
            "underscores, starting with a letter (e.g. my_model)"
        )
    if len(name) > MAX_NAME:
        raise SpecError(
            f"project name '{shorten(name, 40)}' is {len(name)} characters long; use at most {MAX_NAME}"
        )


def check_attn_text(text: str) -> None:
    """Bound an --attn value before it is parsed: its nesting depth and its length."""
    depth = deepest = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        deepest = max(deepest, depth)
    if deepest > MAX_ATTN_DEPTH:
        raise SpecError(
            f"--attn nests parentheses {deepest} levels deep; use at most {MAX_ATTN_DEPTH} "
            "(a+b+c needs none: '+' chains and '/' runs in parallel)"
        )
    if len(text) > MAX_ATTN_TEXT:
        raise SpecError(f"--attn is {len(text)} characters long; use at most {MAX_ATTN_TEXT}")
