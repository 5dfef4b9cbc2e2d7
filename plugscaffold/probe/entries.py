"""User catalog entries: made from a probe, compared, written and removed (all or nothing)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..catalog import BUILT_IN, Catalog, Entry, parse_entry, user_catalog_paths
from ..errors import PlugscaffoldError, ProbeError, SpecError
from .infer import Observed


def parse_target(target: str) -> tuple[Path, str]:
    path, sep, cls = target.rpartition(":")
    if not sep or not path or not cls.isidentifier():
        raise SpecError(f"'{target}' is not FILE.py:ClassName, e.g. my_modules/attention.py:MyAttention")
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"{path}: no such file")
    return file, cls


@dataclass(frozen=True)
class Provenance:
    paper: str | None = None  # 'TITLE, VENUE YEAR'
    code: str | None = None
    license: str | None = None


def paper_entry(text: str) -> dict[str, Any]:
    match = re.fullmatch(r"\s*(.+?),\s*([^,]+?)\s+(\d{4})\s*", text)
    if not match:
        raise SpecError(
            f"--paper '{text}': write it as 'TITLE, VENUE YEAR', "
            "e.g. 'Squeeze-and-Excitation Networks, CVPR 2018'"
        )
    return {"title": match.group(1), "venue": match.group(2), "year": int(match.group(3))}


def make_raw_entry(
    name: str,
    slot: str,
    observed: Observed,
    provenance: Provenance,
    source_name: str,
    title: str,
    origin_path: Path,
) -> dict[str, Any]:
    raw: dict[str, Any] = {"name": name, "slot": slot, "title": title}
    if provenance.paper:
        raw["paper"] = paper_entry(provenance.paper)
        raw["code"] = provenance.code
    else:
        raw["reference_code"] = provenance.code
    raw["license"] = provenance.license
    raw["source"] = {"file": source_name, "classes": [observed.cls]}
    raw["build"] = observed.build()
    if observed.params:
        raw["params"] = observed.param_entries()
    raw["contract"] = observed.contract()
    notes = [
        f"Added with 'plugscaffold add {origin_path}:{observed.cls}'; "
        "contract inferred by probing; deployment not checked."
    ]
    if observed.params:
        notes.append("Constraints were observed at the default hyper-parameters.")
    if observed.residual:
        notes.append("Its output adds the input back (a hidden residual).")
    warnings = [e.detail for e in observed.effects if not e.blocking]
    if warnings:
        notes.append("Side effects: " + "; ".join(warnings) + ".")
    raw["notes"] = " ".join(notes)
    return raw


def contract_diff(old: Entry, raw: Mapping[str, Any]) -> list[str]:
    """What changed between the entry in the catalog and the new probe."""
    c = old.contract
    before = {"inputs": c.inputs, "channels": c.channels, "scale": c.scale, "layout": c.layout,
              "align": c.align, "constraints": [x.check for x in c.constraints],
              "slot": old.slot, "build": old.build,
              "params": {k: p.default for k, p in old.params.items()}}  # fmt: skip
    new = raw["contract"]
    after = {"inputs": new["inputs"], "channels": new["channels"], "scale": new["scale"],
             "layout": new["layout"], "align": new.get("align"),
             "constraints": [x["check"] for x in new.get("constraints", [])],
             "slot": raw["slot"], "build": raw["build"],
             "params": {k: p["default"] for k, p in raw.get("params", {}).items()}}  # fmt: skip
    return [f"  {key}: {before[key]} -> {after[key]}" for key in before if before[key] != after[key]]


def catalog_path(which: str) -> Path:
    return user_catalog_paths()[which]


def write_entry(catalog: Catalog, which: str, raw: dict[str, Any], source: str) -> Path:
    """Write ``raw`` and its source into the ``which`` user catalog, validated first; all or nothing."""
    from ..files import commit, staging

    path = catalog_path(which)
    data = _read_user(path)
    with staging(None) as check:
        (check / "modules").mkdir()
        (check / "modules" / raw["source"]["file"]).write_text(source, encoding="utf-8")
        try:
            parse_entry(raw, f"{path}: entry '{raw['name']}'", catalog.slots, check / "modules")
        except PlugscaffoldError as exc:
            raise ProbeError(f"{exc}; nothing was written") from None
    modules = [m for m in data["modules"] if m.get("name") != raw["name"]]
    modules.append(raw)
    data["modules"] = modules
    text = _HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    with staging(path.parent.parent) as stage:
        commit(stage, path.parent, {path.name: text, f"modules/{raw['source']['file']}": source})
    return path


def remove_entry(catalog: Catalog, name: str) -> tuple[Entry, Path]:
    """Take user module ``name`` (or SLOT/NAME) out of its catalog; built-ins cannot be removed."""
    from ..files import commit, staging

    found = catalog.find(name)
    users = [e for e in found if e.is_user]
    if not users:
        raise SpecError(
            f"'{name}' is a built-in module; only modules added with 'plugscaffold add' can be removed"
        )
    if len(users) > 1:
        raise SpecError(f"'{name}' names modules in slots {', '.join(e.slot for e in users)}; use SLOT/NAME")
    entry = users[0]
    path = catalog_path(entry.origin)
    data = _read_user(path)
    data["modules"] = [
        m for m in data["modules"] if not (m.get("name") == entry.name and m.get("slot") == entry.slot)
    ]
    text = _HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    with staging(path.parent.parent) as stage:
        commit(stage, path.parent, {path.name: text})
    still = {m.get("source", {}).get("file") for m in data["modules"]}
    if entry.source_file and entry.source_file not in still:
        (entry.modules_dir / entry.source_file).unlink(missing_ok=True)
    return entry, path


_HEADER = (
    "# plugscaffold user catalog: modules added with 'plugscaffold add' (validated like catalog.yaml;\n"
    "# sources in modules/). Edit with 'plugscaffold add' and 'plugscaffold remove'.\n"
)


def _read_user(path: Path) -> dict[str, Any]:
    from ..catalog import read_catalog_file

    if not path.is_file():
        return {"version": "1", "modules": []}
    data = read_catalog_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("modules"), list):
        raise ProbeError(f"{path}: not a user catalog (no 'modules' list); fix or remove it")
    return data


def origin_label(entry: Entry) -> str:
    """'built-in', or 'user module, project catalog' / 'user module, per-user catalog'."""
    if entry.origin == BUILT_IN:
        return BUILT_IN
    return f"user module, {'project' if entry.origin == 'project' else 'per-user'} catalog"
