"""The answers file: the single record of how a project was made."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from . import __version__, inline
from .catalog import Catalog
from .plan import Plan

ANSWERS_FILE = ".plugscaffold.yml"
HEADER = "# How this project was made (plugscaffold). Regenerate with the command below.\n"


def answers(plan: Plan, catalog: Catalog, parameters: int | None) -> dict[str, Any]:
    spec = plan.spec
    return {
        "plugscaffold_version": __version__,
        "catalog_version": catalog.version,
        "name": spec.name,
        "command": spec.command(catalog),
        "options": spec.options(),
        "modules": {entry.key: source_digest(entry.classes) for entry in plan.entries if entry.classes},
        "parameters": parameters,
    }


def dump_answers(data: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def source_digest(classes: tuple[str, ...]) -> str:
    """A short hash of the code a catalog entry inlines (changes when its implementation does)."""
    sources, _ = inline.collect(classes)
    return hashlib.sha256("\n".join(sources).encode()).hexdigest()[:12]
