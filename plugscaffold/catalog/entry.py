"""One catalog entry, validated field by field in the order an entry is written.

:func:`parse_entry` runs one step per field: the entry's identity (name, slot), its paper,
the code it follows and that code's licence, its source, its hyper-parameters, its contract,
the names its rules and its build use, its fixtures, its reference figures and its deploy
record. The first problem found is a one-line CatalogError naming the entry and the field.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Mapping

from .. import expr
from ..errors import CatalogError, did_you_mean, shorten
from ..resources import MODULES_DIR
from .records import (
    CHANNEL_VARS,
    DEPLOY_PATHS,
    DOUBLE_CONV,
    LICENSE_KINDS,
    NONE,
    PARAM_TYPES,
    Constraint,
    Contract,
    Deploy,
    Entry,
    MinSize,
    Param,
    Reference,
    Slot,
    convert_value,
    license_kind,
)

_ENTRY_KEYS = {
    "name", "slot", "aliases", "title", "paper", "code", "reference_code", "license", "source",
    "build", "contract", "params", "reference", "notes", "fixture", "deploy",
}  # fmt: skip
_REQUIRED = ("name", "slot", "title", "build", "contract", "license")
_PAPER_KEYS = {"title", "authors", "venue", "year", "doi", "arxiv"}
_SOURCE_KEYS = {"file", "classes"}
_CONTRACT_KEYS = {"inputs", "channels", "scale", "layout", "align", "constraints", "min_size", "convs"}
_PARAM_KEYS = {"type", "default", "choices", "min", "max", "help"}


def parse_entry(raw: Any, where: str, slots: Mapping[str, Slot], modules_dir: Path = MODULES_DIR) -> Entry:
    """The Entry of one catalog mapping ``raw`` (``where`` names it in messages); the sources
    of a user catalog's entries live in its own ``modules_dir``."""
    check_keys(raw, _ENTRY_KEYS, where, required=_REQUIRED)
    slot = _check_identity(raw, where, slots)
    paper = _check_paper(raw.get("paper"), where)
    _check_provenance(raw, where)
    source_file, classes = _parse_source(raw.get("source"), raw["build"], where, modules_dir)
    params = _parse_params(raw.get("params") or {}, where)
    contract = _parse_contract(raw["contract"], slot, where)
    _check_names(contract, params, raw["build"], where)
    fixtures, fixture_params = _parse_fixtures(raw.get("fixture"), params, where)
    references = _parse_references(raw.get("reference"), where)
    return Entry(
        name=raw["name"],
        slot=slot.name,
        title=raw["title"],
        build=raw["build"],
        contract=contract,
        aliases=tuple(raw.get("aliases") or ()),
        paper=paper,
        code=raw.get("code"),
        license=raw.get("license"),
        reference_code=raw.get("reference_code"),
        fixture_params=fixture_params,
        source_file=source_file,
        classes=classes,
        params=params,
        reference=references,
        notes=raw.get("notes"),
        fixtures=fixtures,
        deploy=_parse_deploy(raw["deploy"], where) if "deploy" in raw else None,
    )


def _check_identity(raw: Mapping[str, Any], where: str, slots: Mapping[str, Slot]) -> Slot:
    """``name`` is a lowercase identifier (not the 'none' of a slot that may stay empty),
    ``slot`` is a slot of the catalog, which is returned, and ``aliases`` a list of names."""
    name, slot = raw["name"], raw["slot"]
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise CatalogError(f"{where}: name must be a lowercase identifier")
    known = isinstance(slot, str) and slot in slots
    if name == NONE and known and slots[slot].default == NONE:
        raise CatalogError(f"{where}: 'none' is reserved in slot '{slot}' (it means no module)")
    if not known:
        raise CatalogError(f"{where}: unknown slot '{slot}'{did_you_mean(str(slot), slots)}")
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise CatalogError(f"{where}: aliases must be a list of names, e.g. [haar]")
    return slots[slot]


def _check_paper(paper: Any, where: str) -> Any:
    """``paper`` (optional): title, venue and year, and optionally authors, doi and arxiv."""
    if paper is not None:
        check_keys(paper, _PAPER_KEYS, f"{where}: paper", required=("title", "venue", "year"))
    return paper


def _check_provenance(raw: Mapping[str, Any], where: str) -> None:
    """Every entry names the code it follows, as the authors' (`code`) or not (`reference_code`),
    and that code's licence in words `plugscaffold list --license` understands."""
    kind = license_kind(str(raw["license"])) if isinstance(raw["license"], str) else None
    if kind is None:
        known = ", ".join(p for prefixes in LICENSE_KINDS.values() for p in prefixes)
        raise CatalogError(
            f"{where}: license '{raw['license']}' is not a known licence; start it with one of: {known}"
        )
    if not (raw.get("code") or raw.get("reference_code")):
        raise CatalogError(
            f"{where}: name the code this module follows: 'code' (the paper authors' own) or "
            "'reference_code' (a reimplementation or library code that is not the authors')"
        )
    if raw.get("code") and not raw.get("paper"):
        raise CatalogError(
            f"{where}: 'code' is the paper authors' code, but the entry has no paper; "
            "use 'reference_code' for other code"
        )
    for key in ("code", "reference_code"):
        if key in raw and not (isinstance(raw[key], str) and raw[key].startswith("https://")):
            raise CatalogError(f"{where}: {key} must be an https:// address")


def _parse_source(
    source: Any, build: Any, where: str, modules_dir: Path
) -> tuple[str | None, tuple[str, ...]]:
    """``source`` (optional): the file in ``modules_dir`` and the classes inlined from it.
    (None, ()) for a layer written by its build alone."""
    if source is None:
        return None, ()
    check_keys(source, _SOURCE_KEYS, f"{where}: source", required=("file", "classes"))
    source_file = source["file"]
    classes = tuple(source["classes"]) if isinstance(source["classes"], list) else ()
    if not isinstance(source_file, str):
        raise CatalogError(f"{where}: source file must be a file name in modules/, e.g. hwd.py")
    if not (modules_dir / source_file).is_file():
        shown = f"modules/{source_file}" if modules_dir == MODULES_DIR else modules_dir / source_file
        raise CatalogError(f"{where}: source file {shown} does not exist")
    if not isinstance(source["classes"], list) or not all(isinstance(c, str) for c in classes) or not classes:
        raise CatalogError(f"{where}: source classes must be a non-empty list of class names")
    if modules_dir == MODULES_DIR:  # a user catalog's are checked as its sources load
        _check_classes(source_file, classes, build, where)
    return source_file, classes


def _check_classes(source_file: str, classes: tuple[str, ...], build: Any, where: str) -> None:
    """Every name in an entry's ``source.classes`` is a top-level definition of its file, and
    every class its ``build`` calls comes with them."""
    import ast

    from .. import inline

    defined = [d.name for d in inline.index().values() if d.file == source_file]
    for name in classes:
        if name not in defined:
            raise CatalogError(
                f"{where}: source classes names '{name}', which modules/{source_file} does not "
                f"define{did_you_mean(name, defined)}"
            )
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(str(build)) if f}
        call = ast.parse(str(build).format(**{f: "0" for f in fields}), mode="eval")
    except (SyntaxError, ValueError, KeyError, IndexError):
        raise CatalogError(f"{where}: build is not one Python call ({shorten(str(build))})") from None
    inlined = set(inline.needed(inline.index(), classes))
    for node in ast.walk(call):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in inlined:
            raise CatalogError(
                f"{where}: build calls {node.func.id}, which is not in source classes "
                f"{list(classes)} nor used by them; add it to source classes"
            )


def _parse_params(raw: Mapping[str, Any], where: str) -> dict[str, Param]:
    """``params`` (optional): each hyper-parameter's type, default, help and limits."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: params must be a mapping of names to {{type, default, help}}")
    params = {}
    for name, praw in raw.items():
        check_keys(praw, _PARAM_KEYS, f"{where}: param '{name}'", required=("type", "default", "help"))
        if not isinstance(praw["type"], str) or praw["type"] not in PARAM_TYPES:
            raise CatalogError(f"{where}: param '{name}' has unknown type '{praw['type']}'")
        if "choices" in praw and not isinstance(praw["choices"], list):
            raise CatalogError(f"{where}: param '{name}' choices must be a list of values")
        choices = tuple(praw["choices"]) if "choices" in praw else None
        param = Param(
            name, praw["type"], praw["default"], praw["help"], choices, praw.get("min"), praw.get("max")
        )
        if convert_value(praw["default"], param.type) != praw["default"]:
            raise CatalogError(f"{where}: param '{name}' default {praw['default']!r} is not a {param.type}")
        params[name] = param
    return params


def _parse_contract(raw: Any, slot: Slot, where: str) -> Contract:
    """``contract``: inputs and scale as the slot's, the channel rule, the layout, and
    optionally align, constraints, a minimum size and (block slot) the conv3x3 calls."""
    check_keys(raw, _CONTRACT_KEYS, f"{where}: contract", required=("inputs", "channels", "scale", "layout"))
    constraints = []
    for c in _listed(raw.get("constraints"), f"{where}: contract constraints", "{check, reason} mappings"):
        check_keys(c, {"check", "reason"}, f"{where}: constraint", required=("check", "reason"))
        constraints.append(Constraint(c["check"], c["reason"]))
    min_size = None
    if "min_size" in raw:
        check_keys(raw["min_size"], {"size", "reason"}, f"{where}: min_size", required=("size", "reason"))
        min_size = MinSize(str(raw["min_size"]["size"]), raw["min_size"]["reason"])
    convs = _parse_convs(raw, slot, where)
    contract = Contract(
        inputs=raw["inputs"],
        channels=str(raw["channels"]),
        scale=raw["scale"],
        layout=raw["layout"],
        align=raw.get("align"),
        constraints=tuple(constraints),
        min_size=min_size,
        convs=convs,
    )
    if contract.inputs != slot.inputs or contract.scale != slot.scale:
        raise CatalogError(
            f"{where}: slot '{slot.name}' modules take {slot.inputs} input(s) at scale {slot.scale}, "
            f"but the contract says {contract.inputs} at {contract.scale}"
        )
    if contract.align not in (None, "equal"):
        raise CatalogError(f"{where}: contract align must be 'equal' if given")
    return contract


def _parse_convs(contract: Mapping[str, Any], slot: Slot, where: str) -> tuple[tuple[str, str], ...]:
    """A block's conv3x3 calls as (in, out) expressions: the contract's ``convs``, else a
    double conv's; none for the other slots."""
    if "convs" not in contract:
        return DOUBLE_CONV if slot.name == "block" else ()
    if slot.name != "block" or not isinstance(contract["convs"], list):
        raise CatalogError(f"{where}: contract convs is a list of [in, out] pairs, for block modules only")
    for pair in contract["convs"]:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise CatalogError(f"{where}: contract convs entry {pair!r} is not an [in, out] pair")
    return tuple((str(a), str(b)) for a, b in contract["convs"])


def _check_names(contract: Contract, params: Mapping[str, Param], build: Any, where: str) -> None:
    """The channel rule, the constraints, the minimum size, the conv pairs and the build's
    placeholders use only the channel names and the entry's hyper-parameters."""
    known = set(CHANNEL_VARS) | set(params)
    sized = [contract.min_size.size] if contract.min_size else []
    paired = [text for pair in contract.convs for text in pair]
    for text in [contract.channels, *(c.check for c in contract.constraints), *sized, *paired]:
        try:
            unknown = expr.names(text) - known
        except expr.ExprError as exc:
            raise CatalogError(f"{where}: {exc}") from None
        if unknown:
            raise CatalogError(f"{where}: rule '{text}' uses unknown name '{sorted(unknown)[0]}'")
    if not isinstance(build, str):
        raise CatalogError(f"{where}: build is not one Python call ({shorten(str(build))})")
    fields = {f for _, f, _, _ in string.Formatter().parse(build) if f}
    if fields - known:
        raise CatalogError(f"{where}: build uses unknown placeholder '{{{sorted(fields - known)[0]}}}'")


def _parse_fixtures(
    raw: Any, params: Mapping[str, Param], where: str
) -> tuple[tuple[str, ...], dict[str, dict[str, Any]]]:
    """``fixture``: a file name, or a list of file names and {file, params} mappings, params
    being the hyper-parameters that match the code the fixture was captured from."""
    items = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else None if raw else []
    if items is None:
        raise CatalogError(f"{where}: fixture must be a file name or a list of them")
    files, fixed = [], {}
    for item in items:
        if isinstance(item, dict):
            check_keys(item, {"file", "params"}, f"{where}: fixture", required=("file", "params"))
            if not isinstance(item["file"], str) or not isinstance(item["params"], dict):
                raise CatalogError(f"{where}: a fixture with params is {{file: NAME, params: {{...}}}}")
            unknown = set(item["params"]) - set(params)
            if unknown:
                raise CatalogError(
                    f"{where}: fixture {item['file']} sets unknown param '{sorted(unknown)[0]}'"
                )
            fixed[item["file"]] = dict(item["params"])
            item = item["file"]
        if not isinstance(item, str):
            raise CatalogError(f"{where}: fixture must be a file name or a list of them")
        files.append(item)
    return tuple(files), fixed


def _parse_references(raw: Any, where: str) -> tuple[Reference, ...]:
    """``reference`` (optional): parameter counts measured on the official code, each with its
    configuration and what was measured."""
    references = []
    for ref in _listed(raw, f"{where}: reference", "{config, params, measured} mappings"):
        keys = {"config", "params", "measured"}
        check_keys(ref, keys, f"{where}: reference", required=("config", "params", "measured"))
        references.append(Reference(ref["config"], ref["params"], ref["measured"]))
    return tuple(references)


def _parse_deploy(raw: Any, where: str) -> Deploy:
    """``{supported: [paths], unsupported: {path: reason}}``: every path exactly once."""
    check_keys(raw, {"supported", "unsupported"}, f"{where}: deploy", required=("supported",))
    supported = raw["supported"] or []
    unsupported = raw.get("unsupported") or {}
    if not isinstance(supported, list) or not isinstance(unsupported, dict):
        raise CatalogError(
            f"{where}: deploy supported is a list of paths, unsupported a mapping path: reason"
        )
    for path in [*supported, *unsupported]:
        if path not in DEPLOY_PATHS:
            raise CatalogError(
                f"{where}: deploy names unknown path '{path}'{did_you_mean(str(path), DEPLOY_PATHS)}"
            )
    for path, reason in unsupported.items():
        if path in supported:
            raise CatalogError(f"{where}: deploy path '{path}' is both supported and unsupported")
        if not isinstance(reason, str) or not reason.strip():
            raise CatalogError(f"{where}: deploy unsupported '{path}' needs a reason (a sentence)")
    missing = [p for p in DEPLOY_PATHS if p not in supported and p not in unsupported]
    if missing or len(set(supported)) != len(supported):
        raise CatalogError(
            f"{where}: deploy must list every path once, as supported or unsupported with a reason; "
            f"missing: {', '.join(missing) or 'none'}"
        )
    return Deploy(tuple(p for p in DEPLOY_PATHS if p in supported), dict(unsupported))


def _listed(raw: Any, where: str, items: str) -> list[Any]:
    """An optional list field: its items ([] when absent or empty)."""
    if not raw:
        return []
    if not isinstance(raw, list):
        raise CatalogError(f"{where} must be a list of {items}")
    return raw


def check_keys(raw: Any, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> None:
    """``raw`` is a mapping of only ``allowed`` keys, with every ``required`` one."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{where} must be a mapping")
    for key in raw:
        if key not in allowed:
            raise CatalogError(f"{where}: unknown key '{key}'{did_you_mean(str(key), allowed)}")
    for key in required:
        if key not in raw:
            raise CatalogError(f"{where}: missing required key '{key}'")
