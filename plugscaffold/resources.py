"""Where the shipped data lives: catalog.yaml, templates/ and the plug-in sources.

In a source checkout (and an editable install) they sit at the repository root; in a
wheel they are packaged inside ``plugscaffold/``. Both layouts are looked up here only.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
MODULES_DIR = PACKAGE_DIR / "modules"


def _shipped(name: str) -> Path:
    inside = PACKAGE_DIR / name
    return inside if inside.exists() else PACKAGE_DIR.parent / name


CATALOG_PATH = _shipped("catalog.yaml")
TEMPLATES_DIR = _shipped("templates")
