"""The Spec: what the user asked for, parsed and validated against the catalog.

A slot choice is written ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]``, for example
``dysample:style=pl,groups=8``. The same syntax serves the CLI, answers files and copier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .catalog import NONE, Catalog
from .errors import SpecError, did_you_mean

ARCHITECTURES = ("unet",)
CHOICE_SYNTAX = "NAME or NAME:KEY=VALUE[,KEY=VALUE...], e.g. dysample:style=pl,groups=8"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LIMITS = {"in_channels": (1, 4096), "classes": (1, 4096), "depth": (1, 6), "width": (1, 4096)}


@dataclass(frozen=True)
class Choice:
    """One slot's module and the hyper-parameters the user set (others keep defaults)."""

    slot: str
    name: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def text(self) -> str:
        """Canonical ``name:key=value,...`` form (keys sorted, only what the user set)."""
        if not self.overrides:
            return self.name
        args = ",".join(f"{k}={_format_value(v)}" for k, v in self.overrides)
        return f"{self.name}:{args}"


@dataclass(frozen=True)
class Spec:
    name: str
    arch: str = "unet"
    in_channels: int = 3
    classes: int = 2
    depth: int = 4
    width: int = 64
    choices: tuple[Choice, ...] = field(default=())

    def choice(self, slot: str) -> Choice:
        for choice in self.choices:
            if choice.slot == slot:
                return choice
        raise KeyError(slot)

    def options(self) -> dict[str, Any]:
        """Every option as plain data (for the answers file and copier)."""
        data: dict[str, Any] = {
            "arch": self.arch,
            "in_channels": self.in_channels,
            "classes": self.classes,
            "depth": self.depth,
            "width": self.width,
        }
        data.update({c.slot: c.text for c in self.choices})
        return data

    def command(self, catalog: Catalog) -> str:
        """The shortest ``plugscaffold new`` command that regenerates this Spec."""
        words = ["plugscaffold", "new", self.name]
        defaults = {"arch": "unet", "in_channels": 3, "classes": 2, "depth": 4, "width": 64}
        for key, default in defaults.items():
            value = getattr(self, key)
            if value != default:
                words += [f"--{key.replace('_', '-')}", str(value)]
        for choice in self.choices:
            if choice.text != catalog.slots[choice.slot].default:
                words += [f"--{choice.slot}", choice.text]
        return " ".join(words)


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_choice(text: str, slot: str) -> tuple[str, dict[str, str]]:
    """Split ``name:k=v,k2=v2`` into the name and raw (string) hyper-parameters."""
    name, _, args = str(text).strip().partition(":")
    raw: dict[str, str] = {}
    if not name:
        raise SpecError(f"--{slot} is empty; expected {CHOICE_SYNTAX}")
    if args:
        for item in args.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise SpecError(f"--{slot} {text}: '{item}' is not KEY=VALUE; expected {CHOICE_SYNTAX}")
            if key.strip() in raw:
                raise SpecError(f"--{slot} {text}: '{key.strip()}' is given twice")
            raw[key.strip()] = value.strip()
    return name.strip().lower(), raw


def make_spec(catalog: Catalog, name: str, options: Mapping[str, Any] | None = None) -> Spec:
    """Validate ``options`` (slot choices as strings, sizes as ints) into a Spec."""
    options = dict(options or {})
    check_project_name(name)
    arch = options.pop("arch", "unet")
    if arch not in ARCHITECTURES:
        raise SpecError(f"unknown architecture '{arch}'{did_you_mean(arch, ARCHITECTURES)}")
    sizes = {}
    for key, (low, high) in _LIMITS.items():
        value = options.pop(key, None)
        if value is None:
            continue
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise SpecError(f"--{key.replace('_', '-')} must be an integer, got '{value}'") from None
        if not low <= value <= high:
            raise SpecError(f"--{key.replace('_', '-')} must be between {low} and {high}, got {value}")
        sizes[key] = value
    choices = []
    for slot_name, slot in catalog.slots.items():
        text = options.pop(slot_name, None) or slot.default
        module, raw = parse_choice(text, slot_name)
        entry = catalog.lookup(slot_name, module)
        if entry is None:
            if raw:
                raise SpecError(f"--{slot_name} none takes no hyper-parameters")
            choices.append(Choice(slot_name, NONE))
            continue
        values = entry.resolve_params(raw, f"--{slot_name} {text}")
        overrides = tuple(sorted((k, values[k]) for k in raw if values[k] != entry.params[k].default))
        choices.append(Choice(slot_name, entry.name, overrides))
    if options:
        key = next(iter(options))
        known = [*catalog.slots, *_LIMITS, "arch"]
        raise SpecError(f"unknown option '{key}'{did_you_mean(key, known)}")
    return Spec(name=name, arch=arch, choices=tuple(choices), **sizes)


def check_project_name(name: str) -> None:
    """A project name is a plain identifier: it names a directory and never escapes cwd."""
    if not _NAME_RE.match(name or ""):
        raise SpecError(
            f"project name '{name}' is not a safe identifier; use letters, digits and "
            "underscores, starting with a letter (e.g. my_unet)"
        )
