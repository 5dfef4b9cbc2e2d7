"""The catalog: catalog.yaml's plug-in modules, their provenance and their contracts, loaded
and validated (with the user catalogs of ``plugscaffold add`` merged in on request).

- records.py: what a loaded catalog holds (Catalog, Slot, Entry, Contract, Param, ...) and
  the licence vocabulary;
- entry.py: one entry's validation, field by field, each problem a one-line CatalogError;
- here: reading the catalog files and putting their slots and entries together.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import CatalogError
from ..resources import CATALOG_PATH
from .entry import check_keys, parse_entry
from .records import (
    BUILT_IN,
    CHANNEL_VARS,
    DEPLOY_PATHS,
    DOUBLE_CONV,
    LICENSE_KINDS,
    NONE,
    PARAM_TYPES,
    PROJECT_CATALOG,
    RESTRICTED_KINDS,
    USER_ORIGINS,
    Catalog,
    Constraint,
    Contract,
    Deploy,
    Entry,
    MinSize,
    Param,
    Reference,
    Slot,
    license_kind,
    license_notice,
    paper_link,
)

__all__ = [
    "BUILT_IN", "CATALOG_PATH", "CHANNEL_VARS", "DEPLOY_PATHS", "DOUBLE_CONV", "LICENSE_KINDS", "NONE",
    "PARAM_TYPES", "PROJECT_CATALOG", "RESTRICTED_KINDS", "USER_ORIGINS", "Catalog", "Constraint",
    "Contract", "Deploy", "Entry", "MinSize", "Param", "Reference", "Slot", "license_kind",
    "license_notice", "load_catalog", "merge_user_catalog", "paper_link", "parse_catalog", "parse_entry",
    "read_catalog_file", "user_catalog_paths",
]  # fmt: skip

_SLOT_KEYS = {"help", "default", "inputs", "scale", "hook"}


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml parses 5x faster
    """A SafeLoader that rejects a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise CatalogError(
                    f"key '{key}' appears twice in one mapping (line {key_node.start_mark.line + 1})"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_catalog(path: str | Path | None = None, *, user: bool = False) -> Catalog:
    """Load and validate a catalog file (the shipped catalog.yaml by default); with ``user``,
    merge in the modules of the user catalogs that exist (see :func:`user_catalog_paths`)."""
    path = Path(path) if path else CATALOG_PATH
    catalog = parse_catalog(read_catalog_file(path), path)
    if user:
        from .. import inline

        inline.clear_user_sources()  # the user modules of the catalog loaded last
        for origin, user_path in user_catalog_paths().items():
            if user_path.is_file():
                catalog = merge_user_catalog(catalog, read_catalog_file(user_path), user_path, origin)
    return catalog


#: Bump when what a catalog file parses to changes for the same bytes (the loader's rules).
_PARSE_RULES = "unique keys, read_yaml limits, v1"
_MAX_BYTES = 16_000_000


def read_catalog_file(path: Path) -> Any:
    """The YAML data of a catalog file; a key given twice in one mapping is a CatalogError.

    Every command reads the catalog, and parsing the YAML is most of that (about 0.07 s), so
    the data of a file that parsed is kept in the cache (cache.py) as JSON, under the digest of
    its text, the parse rules and PyYAML's version: the same text gives the same data, and any
    change is a new entry. A file whose data JSON cannot hold exactly is parsed every time."""
    from .. import cache

    try:
        with open(path, "rb") as handle:
            text = handle.read(_MAX_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        text = None  # read_yaml names the problem
    name = cache.key("catalog data", _PARSE_RULES, cache.installed_version("PyYAML"), text or "")
    if text is not None and len(text) <= _MAX_BYTES:
        cached = cache.read("catalog", name)
        if cached is not None:
            try:
                return json.loads(cached)
            except ValueError:  # a damaged entry: parse again and replace it
                pass
    data = _parse_catalog_file(path)
    if text is not None:
        encoded = json.dumps(data)
        if json.loads(encoded) == data:  # e.g. no integer keys, which JSON would make strings
            cache.write("catalog", name, encoded)
    return data


def _parse_catalog_file(path: Path) -> Any:
    from ..yamlfile import read_yaml  # size, depth and alias limits, as for every YAML read

    try:
        return read_yaml(path, error=_CatalogFileError, max_bytes=_MAX_BYTES, loader=_UniqueKeyLoader)
    except _CatalogFileError as exc:
        raise CatalogError(str(exc)) from None
    except CatalogError as exc:
        raise CatalogError(f"{path.name}: {exc}") from None


def user_catalog_paths() -> dict[str, Path]:
    """The per-user catalog ($XDG_CONFIG_HOME/plugscaffold/catalog.yaml, else
    ~/.config/plugscaffold/catalog.yaml) and the project's (./.plugscaffold/catalog.yaml)."""
    import os

    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return {"user": Path(config) / "plugscaffold" / "catalog.yaml", "project": Path.cwd() / PROJECT_CATALOG}


def merge_user_catalog(base: Catalog, data: Any, path: Path, origin: str) -> Catalog:
    """``base`` with the modules of a user catalog (validated as catalog.yaml's; sources in
    modules/ next to it). A name of a shipped module is an error; an entry of an earlier user
    catalog with the same slot and name is replaced (the project's wins over the user's)."""
    from .. import inline

    where = str(path)
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: the top level must be a mapping")
    check_keys(data, {"version", "modules"}, where, required=("modules",))
    if not isinstance(data["modules"], list):
        raise CatalogError(f"{where}: 'modules' must be a list of entries")
    entries = dict(base.entries)
    for index, raw in enumerate(data["modules"]):
        label = raw.get("name", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        entry = parse_entry(raw, f"{where}: entry '{label}'", base.slots, path.parent / "modules")
        entry = replace(entry, origin=origin, modules_dir=path.parent / "modules")
        for other in entries.values():
            clash = {entry.name, *entry.aliases} & {other.name, *other.aliases}
            if clash and other.slot == entry.slot and (other.key != entry.key or not other.is_user):
                owner = "the built-in" if not other.is_user else "the"
                raise CatalogError(
                    f"{where}: entry '{entry.name}' uses the name '{sorted(clash)[0]}', already taken in "
                    f"slot '{entry.slot}' by {owner} entry '{other.name}'"
                )
        try:
            inline.add_user_source(entry.modules_dir / (entry.source_file or ""), entry.classes)
        except ValueError as exc:
            raise CatalogError(f"{where}: entry '{entry.name}': {exc}") from None
        entries[entry.key] = entry
    return replace(base, entries=entries)


class _CatalogFileError(Exception):
    """read_yaml's one-line message about the catalog file (already names the file)."""


def parse_catalog(data: Any, path: Path) -> Catalog:
    """The Catalog of catalog.yaml's ``data``: its slots, then its entries (names unique per slot)."""
    where = path.name
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: the top level must be a mapping")
    check_keys(data, {"version", "slots", "modules"}, where, required=("version", "slots", "modules"))
    if not isinstance(data["slots"], dict):
        raise CatalogError(f"{where}: 'slots' must be a mapping of slot names to slots")
    slots = {name: _parse_slot(name, raw, where) for name, raw in data["slots"].items()}
    entries: dict[str, Entry] = {}
    taken: dict[tuple[str, str], str] = {}
    if not isinstance(data["modules"], list):
        raise CatalogError(f"{where}: 'modules' must be a list of entries")
    for index, raw in enumerate(data["modules"]):
        label = raw.get("name", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        entry = parse_entry(raw, f"{where}: entry '{label}'", slots)
        for key in (entry.name, *entry.aliases):
            if (entry.slot, key) in taken:
                raise CatalogError(
                    f"{where}: entry '{entry.name}' uses the name '{key}', already taken "
                    f"in slot '{entry.slot}' by entry '{taken[entry.slot, key]}'"
                )
            taken[entry.slot, key] = entry.name
        entries[entry.key] = entry
    for slot in slots.values():
        if slot.default != NONE and f"{slot.name}/{slot.default}" not in entries:
            raise CatalogError(f"{where}: slot '{slot.name}' defaults to unknown module '{slot.default}'")
    return Catalog(version=str(data["version"]), slots=slots, entries=entries, path=path)


def _parse_slot(name: str, raw: Any, where: str) -> Slot:
    required = ("help", "default", "inputs", "scale")
    check_keys(raw, _SLOT_KEYS, f"{where}: slot '{name}'", required=required)
    return Slot(name, raw["help"], raw["default"], raw["inputs"], raw["scale"], raw.get("hook"))
