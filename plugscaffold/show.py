"""``plugscaffold list`` and ``plugscaffold show``: the catalog as a person reads it."""

from __future__ import annotations

import textwrap

from . import inline
from .catalog import LICENSE_KINDS, Catalog, Entry
from .deploy import PATHS, parse_paths, supports
from .errors import SpecError, did_you_mean
from .plan import place
from .render import format_code
from .report import table

SCALE = {0.5: "/2", 1: "x1", 2: "x2"}


def format_list(catalog: Catalog, slot: str | None = None, deploy: str | None = None) -> str:
    """The catalog as a table; ``slot`` and ``deploy`` (comma-separated paths) filter it."""
    if slot is not None and slot not in catalog.slots:
        raise SpecError(
            f"unknown slot '{slot}'{did_you_mean(slot, catalog.slots)}; slots: {', '.join(catalog.slots)}"
        )
    paths = parse_paths(deploy) if deploy is not None else ()
    rows = [["name", "slot", "title", "year", "licence", "parameters", "deploy"]]
    for entry in catalog.entries.values():
        if slot in (None, entry.slot) and all(supports(entry, p) for p in paths):
            year = str(entry.paper["year"]) if entry.paper else "-"
            reference, deploy_text = _reference_text(entry), _deploy_text(entry)
            name = f"{entry.name}*" if entry.is_user else entry.name
            rows.append([name, entry.slot, entry.title, year, _license_text(entry), reference, deploy_text])
    note = (
        "parameters: as measured on the official code, at the configuration shown (C = input channels)\n"
        "licence: of the code the module follows ('plugscaffold show NAME' names it; filter with --license "
        f"{'|'.join(LICENSE_KINDS)})"
    )
    notes = [
        note,
        "deploy: the deployment paths the module passes on CPU ('plugscaffold show NAME' says why not)",
    ]
    if any(row[0].endswith("*") for row in rows[1:]):
        notes.append(
            "*: a user module, added with 'plugscaffold add' ('plugscaffold show NAME' names its catalog)"
        )
    if len(rows) == 1:
        return f"no {slot + ' ' if slot else ''}module passes {' and '.join(paths)}"
    return "\n".join([*table(rows, indent=""), "", *notes])


def _deploy_text(entry: Entry) -> str:
    if entry.deploy is None:
        return "-"
    if len(entry.deploy.supported) == len(PATHS):
        return "all"
    return ",".join(entry.deploy.supported) or "none"


def _license_text(entry: Entry) -> str:
    """The licence identifier of the code the module follows (the catalog says more)."""
    return (entry.license or "-").split(" (", 1)[0].split(";", 1)[0]


def _reference_text(entry: Entry) -> str:
    if not entry.reference:
        return "-"
    ref = entry.reference[0]
    return f"{ref.params:,} @ C={ref.config.get('in_channels', '?')}"


def format_show(catalog: Catalog, name: str) -> str:
    return "\n\n".join(_show(catalog, entry) for entry in catalog.find(name))


def _show(catalog: Catalog, entry: Entry) -> str:
    lines = [f"{entry.name} ({entry.slot} slot): {entry.title}"]
    lines += _provenance_lines(entry)
    lines += _contract_lines(entry)
    lines += _param_lines(entry)
    lines += _record_lines(entry)
    lines.append("  emitted code")
    lines.append(textwrap.indent(_example(catalog, entry), "    "))
    return "\n".join(lines)


def _provenance_lines(entry: Entry) -> list[str]:
    """Where the module comes from: its catalog (a user's), aliases, paper, code and licence."""
    lines = []
    if entry.is_user:
        where = entry.modules_dir.parent / "catalog.yaml"
        lines.append(
            f"  origin       user module, added with 'plugscaffold add' ({entry.origin} catalog {where})"
        )
    if entry.aliases:
        lines.append(f"  aliases      {', '.join(entry.aliases)}")
    if entry.paper:
        p = entry.paper
        ids = [f"doi:{p['doi']}" if p.get("doi") else "", f"arXiv:{p['arxiv']}" if p.get("arxiv") else ""]
        lines.append(
            f"  paper        {p['title']}. {entry.citation}. {' '.join(i for i in ids if i)}".rstrip()
        )
    if entry.code:
        lines.append(f"  code         {entry.code} (the paper authors' code)")
    if entry.reference_code:
        lines.append(f"  follows      {entry.reference_code} (not the authors' code)")
    lines.append(f"  licence      {entry.license}")
    return lines


def _contract_lines(entry: Entry) -> list[str]:
    """What the module takes and gives: inputs, layout, scale, channels and its constraints."""
    c = entry.contract
    lines = [
        f"  contract     {c.inputs} input(s), {c.layout}, spatial scale {SCALE.get(c.scale, c.scale)}, "
        f"output channels = {c.channels}"
    ]
    if c.align == "equal":
        lines.append(
            "               inputs must have equal channels (the plan inserts a 1x1 projection otherwise)"
        )
    for constraint in c.constraints:
        lines.append(f"  constraint   {constraint.check}: {constraint.reason}")
    if c.min_size:
        lines.append(
            f"  min size     feature maps of at least {c.min_size.size} (H and W): {c.min_size.reason}"
        )
    return lines


def _param_lines(entry: Entry) -> list[str]:
    """The hyper-parameters as a table (none: no lines)."""
    if not entry.params:
        return []
    rows = []
    for p in entry.params.values():
        limits = (
            f"one of {', '.join(map(str, p.choices))}"
            if p.choices
            else (f">= {p.min}" if p.min is not None else "")
        )
        rows.append([p.name, p.type, repr(p.default), limits, p.help])
    return [f"  hyper-parameters (--{entry.slot} {entry.name}:KEY=VALUE,...)", *table(rows, indent="    ")]


def _record_lines(entry: Entry) -> list[str]:
    """What was measured and checked: reference parameter counts, deployment paths, notes."""
    lines = []
    for ref in entry.reference:
        config = ", ".join(f"{k}={v}" for k, v in ref.config.items())
        lines.append(f"  reference    {ref.params:,} parameters at {config} (measured: {ref.measured})")
    if entry.deploy is not None:
        passes = ", ".join(entry.deploy.supported) or "none"
        lines.append(f"  deploy       passes: {passes} (on CPU, checked by the tests)")
        for path, reason in entry.deploy.unsupported.items():
            lines.append(
                "               " + "\n                 ".join(textwrap.wrap(f"not {path}: {reason}", 80))
            )
    if entry.notes:
        lines.append("  notes        " + "\n               ".join(textwrap.wrap(entry.notes, 80)))
    return lines


def _example(catalog: Catalog, entry: Entry) -> str:
    """The constructor call at the reference configuration, then the inlined classes."""
    config = dict(entry.reference[0].config) if entry.reference else {"in_channels": 64, "out_channels": 64}
    params = {k: config.get(k, p.default) for k, p in entry.params.items()}
    channels = {k: config.get(k, 64) for k in ("in_channels", "out_channels", "skip_channels")}
    call = place(entry, params, where="example", **channels).code
    sources, imports = inline.collect(entry.classes)
    head = f"# {entry.slot}: {catalog.slots[entry.slot].help}\nlayer = {call}\n"
    return format_code("\n".join([*imports, "", "", *sources, "", head])).strip()
