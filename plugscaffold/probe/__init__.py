"""``plugscaffold add``: probe a user's class, infer its contract, make it a catalog entry.

observe.py runs the class in an isolated worker, infer.py infers the contract from what it does;
slots.py fits the contract to a slot; entries.py writes the entry and a copy of the source into
a user catalog (or removes it); check.py re-probes catalog entries as declared (``add --check``).
This file holds the two commands.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

from ..catalog import Catalog, Entry, license_kind
from ..errors import ProbeError, SpecError, did_you_mean
from .check import check_entries
from .entries import (
    Provenance,
    contract_diff,
    make_raw_entry,
    origin_label,
    parse_target,
    remove_entry,
    write_entry,
)
from .infer import Limits, Observed
from .observe import describe_limits, probe_file, probe_files, scan
from .slots import fit_slot

__all__ = [
    "Limits", "Observed", "ProbeError", "add_module", "check_entries", "check_modules", "fit_slot",
    "origin_label", "probe_file", "probe_files", "remove_entry", "scan",
]  # fmt: skip


def add_module(args: Any, catalog: Catalog, ask: Any = input) -> int:
    """``plugscaffold add FILE.py:CLASS``: probe, show, confirm, write (see the module docstring)."""
    if not args.target:
        raise SpecError("add needs FILE.py:CLASS (the class to add), or --check NAME")
    path, cls = parse_target(args.target)
    name, old = _checked_options(args, catalog, cls)
    observed, slot = _probe_and_show(args, catalog, path, cls, old)
    interactive = sys.stdin.isatty()
    provenance = _provenance(args, ask, interactive)
    text = path.read_text(encoding="utf-8")
    title = args.title or _docstring_title(text, cls) or f"{cls} (from {path.name})"
    raw = make_raw_entry(name, slot, observed, provenance, f"{name}.py", title, path)
    if old is not None:
        changes = contract_diff(old, raw)
        print(f"Changes from the catalog's {old.slot} {old.name}:" if changes else "Contract unchanged.")
        for line in changes:
            print(line)
    if not args.yes and not _confirmed(ask, interactive, name, slot):
        print("Nothing was written.")
        return 1
    which = old.origin if old is not None else ("project" if args.project else "user")
    written = write_entry(catalog, which, raw, text)
    verb = "Updated" if old is not None else "Added"
    print(f"{verb:<12} {slot} {name} in {written}; use it with 'plugscaffold new PROJECT --{slot} {name}'")
    if old is not None:
        print(
            "Nothing was regenerated: 'plugscaffold update DIR --upgrade-modules' brings the change into a "
            "project"
        )
    return 0


def _checked_options(args: Any, catalog: Catalog, cls: str) -> tuple[str, Entry | None]:
    """The catalog name (--name, else the class name in lower case) and the user module of that
    name it replaces, if any; one line for a bad name, a built-in's name or an unknown --slot."""
    name = args.name or cls.lower()
    if not name.isidentifier() or name != name.lower():
        raise SpecError(f"--name {name}: a catalog name is a lowercase identifier, e.g. {cls.lower()}")
    taken = [e for e in catalog.entries.values() if name in (e.name, *e.aliases)]
    builtin = [e for e in taken if not e.is_user]
    if builtin:
        raise SpecError(
            f"the name '{name}' is taken by the built-in {builtin[0].slot} module '{builtin[0].name}'; "
            "choose another with --name; nothing was written"
        )
    if args.slot is not None and args.slot not in catalog.slots:
        raise SpecError(
            f"--slot {args.slot}: unknown slot{did_you_mean(args.slot, catalog.slots)}; "
            f"slots: {', '.join(catalog.slots)}"
        )
    return name, taken[0] if taken else None


def _probe_and_show(
    args: Any, catalog: Catalog, path: Path, cls: str, old: Entry | None
) -> tuple[Observed, str]:
    """Probe the class, fit it to a slot, refuse a side effect model.py must not carry, and
    print the contract as observed; the contract and its slot."""
    limits = Limits(timeout=args.timeout, memory_mb=args.memory, call_timeout=min(10.0, args.timeout / 4))
    print(
        f"Probing      {path}:{cls}: this runs the file's code ({describe_limits(limits)})", file=sys.stderr
    )
    replacing = old.modules_dir / old.source_file if old and old.source_file else None
    observed = probe_file(path, cls, limits, catalog, replacing=replacing)
    slot = fit_slot(catalog, observed, args.slot)
    blocking = [e for e in observed.effects if e.blocking]
    if blocking:
        raise ProbeError(
            f"{cls} {blocking[0].detail} ({blocking[0].where}): a standalone model.py must not; "
            "fix the file and add it again; nothing was written"
        )
    print(f"Contract of {cls} ({path}), as observed:")
    print("\n".join(observed.lines()))
    print(f"  {'slot':<16}  {slot} ({catalog.slots[slot].help})")
    return observed, slot


def _provenance(args: Any, ask: Any, interactive: bool) -> Provenance:
    """--paper, --code and --license, the last two asked for in a terminal; a licence
    plugscaffold does not know is refused."""
    provenance = Provenance(
        paper=args.paper,
        code=args.code
        or _asked(ask, interactive, "code URL (https://...) the file comes from", "--code URL"),
        license=args.license
        or _asked(ask, interactive, "licence of that code (e.g. MIT, 'not stated')", "--license"),
    )
    if license_kind(provenance.license or "") is None:
        raise SpecError(
            f"--license '{provenance.license}' is not a licence plugscaffold knows; start it with e.g. MIT, "
            "Apache-2.0, BSD-3-Clause, GPL-3.0, CC BY-NC 4.0 or 'not stated'"
        )
    return provenance


def _confirmed(ask: Any, interactive: bool, name: str, slot: str) -> bool:
    if not interactive:
        raise SpecError("not confirmed: run it in a terminal to answer, or add --yes; nothing was written")
    return ask(f"Add {name} to the {slot} slot? [y/N] ").strip().lower() in ("y", "yes")


def _asked(ask: Any, interactive: bool, question: str, flag: str) -> str:
    if not interactive:
        raise SpecError(f"give {flag} (provenance is recorded for every module); nothing was written")
    return str(ask(f"{question}: ")).strip()


def _docstring_title(text: str, cls: str) -> str:
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            doc = ast.get_docstring(node) or ""
            return doc.strip().splitlines()[0].rstrip(".") if doc.strip() else ""
    return ""


def check_modules(args: Any, catalog: Catalog) -> int:
    """``plugscaffold add --check NAME|all``: exit 1 where declared and observed contracts disagree."""
    entries = list(catalog.entries.values()) if args.check == "all" else catalog.find(args.check)
    limits = Limits(timeout=args.timeout, memory_mb=args.memory, call_timeout=min(10.0, args.timeout / 4))
    print(f"Probing      {len(entries)} module(s) ({describe_limits(limits)})", file=sys.stderr)
    results = check_entries(entries, limits)
    bad = 0
    for key, problems in results.items():
        if problems:
            bad += 1
            print(f"{key}: declared contract and behaviour disagree: {problems[0]}")
            for problem in problems[1:3]:
                print(f"    {problem}")
        else:
            print(f"{key}: ok")
    if bad:
        print(
            f"plugscaffold: error: {bad} of {len(entries)} module(s) disagree with their contract",
            file=sys.stderr,
        )
        return 1
    return 0
