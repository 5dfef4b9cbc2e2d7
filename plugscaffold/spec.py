"""The Spec: what the user asked for, parsed and validated against the catalog.

A slot choice is written ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]`` (see choice.py);
attention placements use the composition grammar of compose.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .catalog import NONE, Catalog
from .choice import resolve_choice
from .compose import Placement, parse_placement
from .errors import SpecError, did_you_mean, shorten

ARCHITECTURES = ("unet",)
#: Where ``--attn`` can put modules, per architecture, and where it puts them by default.
POSITIONS = {
    "unet": {
        "enc": "after every encoder block",
        "bottleneck": "after the bottleneck block",
        "dec": "after every decoder block",
        "down": "after every downsampling",
        "skip": "on every skip tensor, before its fusion",
        "downblock": "after the block that follows every downsampling, the bottleneck's included "
        "(milesial's Down module: pool, double conv, then this; seed 001's placement)",
    }
}
DEFAULT_POSITIONS = ("enc", "bottleneck", "dec")
PLACED_SLOT = "attn"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: The longest project name (file systems allow 255 bytes; staging adds a prefix).
MAX_NAME = 100
#: The largest side of a check's input (--size), and of a recorded project size.
MAX_SIDE = 8192
#: The longest --attn value, and the deepest nesting of its parentheses.
MAX_ATTN_TEXT, MAX_ATTN_DEPTH = 2000, 16
_SIZES = {
    "in_channels": (3, 1, 4096),
    "classes": (2, 1, 4096),
    "depth": (4, 1, 6),
    "width": (64, 1, 4096),
    # 2: bottleneck and decoder blocks at half width, as milesial/Pytorch-UNet builds its
    # bilinear UNet (factor = 2 if bilinear else 1)
    "factor": (1, 1, 2),
}


@dataclass(frozen=True)
class Choice:
    """One slot's module and the hyper-parameters the user set (others keep defaults)."""

    slot: str
    name: str
    overrides: tuple[tuple[str, Any], ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Spec:
    name: str
    arch: str = "unet"
    in_channels: int = 3
    classes: int = 2
    depth: int = 4
    width: int = 64
    factor: int = 1
    choices: tuple[Choice, ...] = field(default=())
    attn: tuple[Placement, ...] = field(default=())

    def choice(self, slot: str) -> Choice:
        for choice in self.choices:
            if choice.slot == slot:
                return choice
        raise KeyError(slot)

    def options(self) -> dict[str, Any]:
        """Every option as plain data (for the answers file and copier)."""
        data: dict[str, Any] = {"arch": self.arch}
        data.update({key: getattr(self, key) for key in _SIZES})
        data.update({c.slot: c.text for c in self.choices})
        data[PLACED_SLOT] = [p.text for p in self.attn] or NONE
        return data

    def command(self, catalog: Catalog) -> str:
        """The shortest ``plugscaffold new`` command that regenerates this Spec."""
        words = ["plugscaffold", "new", self.name]
        if self.arch != "unet":
            words += ["--arch", self.arch]
        for key, (default, _, _) in _SIZES.items():
            if getattr(self, key) != default:
                words += [f"--{key.replace('_', '-')}", str(getattr(self, key))]
        for choice in self.choices:
            if choice.text != catalog.slots[choice.slot].default:
                words += [f"--{choice.slot}", choice.text]
        for placement in self.attn:
            words += [f"--{PLACED_SLOT}", placement.text.removesuffix("@" + ",".join(DEFAULT_POSITIONS))]
        return " ".join(words)


def make_spec(catalog: Catalog, name: str, options: Mapping[str, Any] | None = None) -> Spec:
    """Validate ``options`` (slot choices as strings, sizes as ints) into a Spec."""
    options = {k: v for k, v in (options or {}).items() if v is not None}
    check_project_name(name)
    arch = options.pop("arch", "unet")
    if arch not in ARCHITECTURES:
        raise SpecError(f"unknown architecture '{arch}'{did_you_mean(arch, ARCHITECTURES)}")
    sizes = {}
    for key, (default, low, high) in _SIZES.items():
        value = options.pop(key, default)
        flag = f"--{key.replace('_', '-')}"
        try:
            value = int(value)
        except (TypeError, ValueError, OverflowError):
            raise SpecError(f"{flag} must be an integer, got '{shorten(value)}'") from None
        if not low <= value <= high:
            raise SpecError(f"{flag} must be between {low} and {high}, got {value}")
        sizes[key] = value
    choices = []
    for slot_name, slot in catalog.slots.items():
        if slot_name == PLACED_SLOT:
            continue
        text = options.pop(slot_name, None)
        if text is None:
            text = slot.default
        elif not isinstance(text, str):  # from a corrupted answers file
            raise SpecError(
                f"--{slot_name} must be a module name such as '{slot.default}', got {shorten(text)}"
            )
        entry, overrides, canonical = resolve_choice(catalog, slot_name, text, f"--{slot_name} {text}")
        choices.append(Choice(slot_name, entry.name if entry else NONE, overrides, canonical))
    attn = options.pop(PLACED_SLOT, None)
    attn = [] if attn is None else [attn] if isinstance(attn, str) else attn
    if not isinstance(attn, (list, tuple)) or not all(isinstance(text, str) for text in attn):
        raise SpecError(f"--attn must be composition texts such as 'se@enc', got {shorten(attn)}")
    for text in attn:
        check_attn_text(text)
    placements = [parse_placement(text, catalog, POSITIONS[arch], DEFAULT_POSITIONS) for text in attn]
    placements = [p for p in placements if p is not None]
    taken = [position for p in placements for position in p.positions]
    for position in set(taken):
        if taken.count(position) > 1:
            raise SpecError(
                f"--attn: position '{position}' is given twice; compose the modules instead (e.g. --attn se+cbam@{position})"
            )
    if options:
        key = next(iter(options))
        known = [*catalog.slots, *_SIZES, "arch"]
        raise SpecError(f"unknown option '{shorten(key)}'{did_you_mean(str(key), known)}")
    return Spec(name=name, arch=arch, choices=tuple(choices), attn=tuple(placements), **sizes)


def check_project_name(name: str) -> None:
    """A project name is a plain identifier: it names a directory and never escapes cwd."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SpecError(
            f"project name '{shorten(name)}' is not a safe identifier; use letters, digits and "
            "underscores, starting with a letter (e.g. my_unet)"
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
