"""One slot choice: ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]`` (e.g. ``dysample:style=pl``)."""

from __future__ import annotations

import math
from typing import Any

from .catalog import Catalog, Entry
from .errors import SpecError

CHOICE_SYNTAX = "NAME or NAME:KEY=VALUE[,KEY=VALUE...], e.g. dysample:style=pl,groups=8"


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


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_choice(
    catalog: Catalog, slot: str, text: str, where: str
) -> tuple[Entry | None, tuple[tuple[str, Any], ...], str]:
    """The entry (None for 'none'), the validated non-default overrides, and the canonical text."""
    name, raw = parse_choice(text, slot)
    entry = catalog.lookup(slot, name)
    if entry is None:
        if raw:
            raise SpecError(f"{where}: 'none' takes no hyper-parameters")
        return None, (), name
    values = entry.resolve_params(raw, where)
    for key in raw:
        if isinstance(values[key], float) and not math.isfinite(values[key]):
            raise SpecError(
                f"{where}: {key}={raw[key]} is not a finite number; give a number such as "
                f"{format_value(entry.params[key].default)} (the default)"
            )
    overrides = tuple(sorted((k, values[k]) for k in raw if values[k] != entry.params[k].default))
    args = ",".join(f"{k}={format_value(v)}" for k, v in overrides)
    return entry, overrides, f"{entry.name}:{args}" if args else entry.name
