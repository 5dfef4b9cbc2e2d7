"""Load and validate catalog.yaml: every plug-in, its provenance and its contract."""

from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from . import expr
from .errors import CatalogError, SpecError, did_you_mean, shorten
from .resources import CATALOG_PATH, MODULES_DIR

#: Names a channel rule, a constraint or a build template may use besides hyper-parameters.
CHANNEL_VARS = ("in_channels", "out_channels", "skip_channels")
PARAM_TYPES = {"int": int, "float": float, "bool": bool, "str": str}
NONE = "none"
#: What a licence allows, by its identifier's start (the text before any ' (' or ';').
LICENSE_KINDS = {
    "permissive": ("MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause"),
    "noncommercial": ("CC BY-NC",),
    "copyleft": ("GPL", "AGPL", "LGPL", "CC BY-SA"),
    "unstated": ("not stated",),
}
#: Kinds that restrict how a model may be used or shared: ``new`` prints a notice for them.
RESTRICTED_KINDS = ("noncommercial", "copyleft")
_RESTRICTION = {"noncommercial": "non-commercial", "copyleft": "copyleft"}


def license_notice(entries: list[Entry]) -> str:
    """One line naming the entries that follow non-commercial or copyleft code ('' if none)."""
    restricted = [
        f"{e.name} ({_RESTRICTION[kind]}: {(e.license or '').split(' (', 1)[0]})"
        for e in entries
        if (kind := license_kind(e.license or "")) in RESTRICTED_KINDS
    ]
    if not restricted:
        return ""
    return (
        f"{', '.join(restricted)} follow{'s' if len(restricted) == 1 else ''} code under a restrictive "
        "licence; check it before commercial use or redistribution ('plugscaffold show NAME')"
    )


def license_kind(text: str) -> str | None:
    """'permissive', 'noncommercial', 'copyleft' or 'unstated' for a catalog licence; None if unknown."""
    main = text.split(" (", 1)[0].split(";", 1)[0].strip()
    for kind, prefixes in LICENSE_KINDS.items():
        if any(main.startswith(prefix) for prefix in prefixes):
            return kind
    return None


BUILT_IN = "built-in"
#: User catalogs (``plugscaffold add``), later ones overriding earlier ones' entries of the same name.
USER_ORIGINS = ("user", "project")
#: The project catalog, relative to the directory plugscaffold runs in.
PROJECT_CATALOG = Path(".plugscaffold") / "catalog.yaml"

#: The conv3x3 calls of a block that lists none: a double conv's (in, out), (out, out).
DOUBLE_CONV = (("in_channels", "out_channels"), ("out_channels", "out_channels"))
#: Deployment paths an entry's ``deploy:`` record covers (see plugscaffold/deploy.py).
DEPLOY_PATHS = ("script", "trace", "export", "compile", "onnx")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None

    def convert(self, raw: Any, where: str) -> Any:
        """Convert a raw value (a CLI string or a YAML scalar) and check its range."""
        value = _convert(raw, self.type)
        if value is None:
            raise SpecError(f"{where}: '{raw}' is not a valid {self.type} for '{self.name}'")
        if self.choices is not None and value not in self.choices:
            options = ", ".join(str(c) for c in self.choices)
            hint = did_you_mean(str(value), [str(c) for c in self.choices])
            raise SpecError(f"{where}: {self.name}={value} is not one of {options}{hint}")
        if self.min is not None and value < self.min:
            raise SpecError(f"{where}: {self.name}={value} is below its minimum {self.min}")
        if self.max is not None and value > self.max:
            raise SpecError(f"{where}: {self.name}={value} is above its maximum {self.max}")
        return value


def _convert(raw: Any, type_name: str) -> Any:
    if type_name == "bool":
        if isinstance(raw, bool):
            return raw
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
            str(raw).lower()
        )
    if type_name == "int":
        if isinstance(raw, bool):
            return None
        try:
            return int(str(raw), 10)
        except ValueError:
            return None
    if type_name == "float":
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    return str(raw)


@dataclass(frozen=True)
class Constraint:
    check: str
    reason: str


@dataclass(frozen=True)
class MinSize:
    """The smallest feature-map height and width the module accepts (an expression)."""

    size: str
    reason: str


@dataclass(frozen=True)
class Contract:
    inputs: int
    channels: str
    scale: float
    layout: str
    align: str | None
    constraints: tuple[Constraint, ...]
    min_size: MinSize | None = None
    # block slot: the (in, out) channels of every conv3x3 hook call inside, as expressions
    convs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Deploy:
    """Which deployment paths the module passes on CPU, and why each other one fails."""

    supported: tuple[str, ...]
    unsupported: Mapping[str, str]


@dataclass(frozen=True)
class Reference:
    config: Mapping[str, Any]
    params: int
    measured: str


def paper_link(paper: Mapping[str, Any]) -> str:
    """A paper's link: its DOI, else its arXiv page, else ''."""
    if paper.get("doi"):
        return f"https://doi.org/{paper['doi']}"
    if paper.get("arxiv"):
        return f"https://arxiv.org/abs/{paper['arxiv']}"
    return ""


@dataclass(frozen=True)
class Entry:
    name: str
    slot: str
    title: str
    build: str
    contract: Contract
    aliases: tuple[str, ...] = ()
    paper: Mapping[str, Any] | None = None
    code: str | None = None  # the paper authors' own code
    license: str | None = None  # the licence of the code ours follows
    reference_code: str | None = None  # code ours follows that is not the authors' (a reimplementation, a library)
    fixture_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per fixture file
    source_file: str | None = None
    classes: tuple[str, ...] = ()
    params: Mapping[str, Param] = field(default_factory=dict)
    reference: tuple[Reference, ...] = ()
    notes: str | None = None
    fixtures: tuple[str, ...] = ()  # tests/fixtures/official/<file>: outputs captured from the official code
    deploy: Deploy | None = None  # None: not recorded (a user catalog may leave it out)
    origin: str = BUILT_IN  # or the user catalog it comes from: 'project' or 'user' (plugscaffold add)
    modules_dir: Path = MODULES_DIR  # where source_file lives (a user catalog's modules/)

    @property
    def is_user(self) -> bool:
        """Added with ``plugscaffold add`` (a project or per-user catalog), not shipped."""
        return self.origin != BUILT_IN

    @property
    def key(self) -> str:
        """``slot/name``: names are unique within a slot (``conv`` is both a down and a conv)."""
        return f"{self.slot}/{self.name}"

    @property
    def citation(self) -> str:
        """'Authors, Venue Year' or '' for built-in layers."""
        if not self.paper:
            return ""
        parts = [self.paper.get("authors", ""), f"{self.paper['venue']} {self.paper['year']}"]
        return ", ".join(p for p in parts if p)

    @property
    def link(self) -> str:
        """The best single link: official code, else the reference code, else DOI, else arXiv."""
        if self.code or self.reference_code:
            return self.code or self.reference_code or ""
        return paper_link(self.paper or {})

    def resolve_params(self, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Defaults overlaid with ``raw`` (validated); unknown names are errors."""
        values = {name: p.default for name, p in self.params.items()}
        for key, value in raw.items():
            if key not in self.params:
                known = ", ".join(self.params) or "none"
                raise SpecError(
                    f"{where}: '{self.name}' has no hyper-parameter '{key}'"
                    f"{did_you_mean(key, self.params)}; it takes: {known}"
                )
            values[key] = self.params[key].convert(value, where)
        return values


@dataclass(frozen=True)
class Slot:
    name: str
    help: str
    default: str
    inputs: int
    scale: float
    hook: str | None = None


@dataclass(frozen=True)
class Catalog:
    version: str
    slots: Mapping[str, Slot]
    entries: Mapping[str, Entry]
    path: Path

    def in_slot(self, slot: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.slot == slot]

    def with_license(self, kind: str | None) -> Catalog:
        """This catalog with only the entries whose licence is of ``kind`` (None keeps all)."""
        if kind is None:
            return self
        if kind not in LICENSE_KINDS:
            raise SpecError(
                f"--license {kind}: unknown licence kind{did_you_mean(kind, LICENSE_KINDS)}; "
                f"use one of: {', '.join(LICENSE_KINDS)}"
            )
        kept = {key: e for key, e in self.entries.items() if license_kind(e.license or "") == kind}
        return replace(self, entries=kept)

    def choices(self, slot: str) -> list[str]:
        """The names a user may give for ``slot``, sorted, with 'none' where the slot allows it."""
        names = sorted(e.name for e in self.in_slot(slot))
        return names + [NONE] if self.slots[slot].default == NONE and NONE not in names else names

    def lookup(self, slot: str, name: str) -> Entry | None:
        """The entry ``name`` (or alias) of ``slot``; None for 'none'; SpecError otherwise."""
        if slot not in self.slots:
            raise SpecError(f"unknown slot '{slot}'{did_you_mean(slot, self.slots)}")
        if name == NONE and self.slots[slot].default == NONE:
            return None
        names = {e.name: e for e in self.in_slot(slot)}
        names.update({a: e for e in self.in_slot(slot) for a in e.aliases})
        if name in names:
            return names[name]
        elsewhere = [e.slot for e in self.entries.values() if name in (e.name, *e.aliases)]
        if elsewhere:
            other = elsewhere[0]
            raise SpecError(f"'{name}' is a {other} module, not a {slot} module; use --{other} {name}")
        raise SpecError(
            f"unknown {slot} module '{name}'{did_you_mean(name, names)}; "
            f"choose one of: {', '.join(self.choices(slot))} (see 'plugscaffold list {slot}')"
        )

    def find(self, name: str) -> list[Entry]:
        """Entries called ``name`` (or ``slot/name``), across slots; SpecError if none."""
        slot, _, bare = name.rpartition("/")
        found = [e for e in self.entries.values() if bare in (e.name, *e.aliases) and slot in ("", e.slot)]
        if found:
            return found
        all_names = [n for e in self.entries.values() for n in (e.name, *e.aliases)]
        raise SpecError(
            f"no module named '{name}' in the catalog{did_you_mean(bare, all_names)}; "
            "run 'plugscaffold list' to see them all"
        )


# --- loading -------------------------------------------------------------------------------

_ENTRY_KEYS = {
    "name", "slot", "aliases", "title", "paper", "code", "reference_code", "license", "source",
    "build", "contract", "params", "reference", "notes", "fixture", "deploy",
}  # fmt: skip
_REQUIRED = ("name", "slot", "title", "build", "contract", "license")
_PAPER_KEYS = {"title", "authors", "venue", "year", "doi", "arxiv"}
_SOURCE_KEYS = {"file", "classes"}
_CONTRACT_KEYS = {"inputs", "channels", "scale", "layout", "align", "constraints", "min_size", "convs"}
_PARAM_KEYS = {"type", "default", "choices", "min", "max", "help"}
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
    catalog = parse_catalog(_read(path), path)
    if user:
        from . import inline

        inline.clear_user_sources()  # the user modules of the catalog loaded last
        for origin, user_path in user_catalog_paths().items():
            if user_path.is_file():
                catalog = merge_user_catalog(catalog, _read(user_path), user_path, origin)
    return catalog


def _read(path: Path) -> Any:
    from .yamlfile import read_yaml  # size, depth and alias limits, as for every YAML read

    try:
        return read_yaml(path, error=_CatalogFileError, max_bytes=16_000_000, loader=_UniqueKeyLoader)
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
    from . import inline

    where = str(path)
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: the top level must be a mapping")
    _check_keys(data, {"version", "modules"}, where, required=("modules",))
    if not isinstance(data["modules"], list):
        raise CatalogError(f"{where}: 'modules' must be a list of entries")
    entries = dict(base.entries)
    for index, raw in enumerate(data["modules"]):
        label = raw.get("name", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        entry = _parse_entry(raw, f"{where}: entry '{label}'", base.slots, path.parent / "modules")
        entry = replace(entry, origin=origin, modules_dir=path.parent / "modules")
        for other in entries.values():
            clash = {entry.name, *entry.aliases} & {other.name, *other.aliases}
            if clash and other.slot == entry.slot and (other.key != entry.key or not other.is_user):
                raise CatalogError(
                    f"{where}: entry '{entry.name}' uses the name '{sorted(clash)[0]}', already taken in slot "
                    f"'{entry.slot}' by {'the built-in' if not other.is_user else 'the'} entry '{other.name}'"
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
    where = path.name
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: the top level must be a mapping")
    _check_keys(data, {"version", "slots", "modules"}, where, required=("version", "slots", "modules"))
    slots = {name: _parse_slot(name, raw, where) for name, raw in data["slots"].items()}
    entries: dict[str, Entry] = {}
    taken: dict[tuple[str, str], str] = {}
    if not isinstance(data["modules"], list):
        raise CatalogError(f"{where}: 'modules' must be a list of entries")
    for index, raw in enumerate(data["modules"]):
        label = raw.get("name", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        entry = _parse_entry(raw, f"{where}: entry '{label}'", slots)
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
            _check_keys(item, {"file", "params"}, f"{where}: fixture", required=("file", "params"))
            unknown = set(item["params"]) - set(params)
            if unknown:
                raise CatalogError(f"{where}: fixture {item['file']} sets unknown param '{sorted(unknown)[0]}'")
            fixed[item["file"]] = dict(item["params"])
            item = item["file"]
        if not isinstance(item, str):
            raise CatalogError(f"{where}: fixture must be a file name or a list of them")
        files.append(item)
    return tuple(files), fixed


def _check_keys(raw: Any, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> None:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where} must be a mapping")
    for key in raw:
        if key not in allowed:
            raise CatalogError(f"{where}: unknown key '{key}'{did_you_mean(str(key), allowed)}")
    for key in required:
        if key not in raw:
            raise CatalogError(f"{where}: missing required key '{key}'")


def _parse_slot(name: str, raw: Any, where: str) -> Slot:
    required = ("help", "default", "inputs", "scale")
    _check_keys(raw, _SLOT_KEYS, f"{where}: slot '{name}'", required=required)
    return Slot(name, raw["help"], raw["default"], raw["inputs"], raw["scale"], raw.get("hook"))


def _parse_entry(raw: Any, where: str, slots: Mapping[str, Slot], modules_dir: Path = MODULES_DIR) -> Entry:
    _check_keys(raw, _ENTRY_KEYS, where, required=_REQUIRED)
    name = raw["name"]
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise CatalogError(f"{where}: name must be a lowercase identifier")
    if name == NONE and slots.get(raw.get("slot")) and slots[raw["slot"]].default == NONE:
        raise CatalogError(f"{where}: 'none' is reserved in slot '{raw['slot']}' (it means no module)")
    if raw["slot"] not in slots:
        raise CatalogError(f"{where}: unknown slot '{raw['slot']}'{did_you_mean(str(raw['slot']), slots)}")

    paper = raw.get("paper")
    if paper is not None:
        _check_keys(paper, _PAPER_KEYS, f"{where}: paper", required=("title", "venue", "year"))

    _check_provenance(raw, where)

    source = raw.get("source")
    source_file, classes = None, ()
    if source is not None:
        _check_keys(source, _SOURCE_KEYS, f"{where}: source", required=("file", "classes"))
        source_file, classes = source["file"], tuple(source["classes"])
        if not (modules_dir / source_file).is_file():
            shown = f"modules/{source_file}" if modules_dir == MODULES_DIR else modules_dir / source_file
            raise CatalogError(f"{where}: source file {shown} does not exist")
        if not isinstance(source["classes"], list) or not all(isinstance(c, str) for c in classes) or not classes:
            raise CatalogError(f"{where}: source classes must be a non-empty list of class names")
        if modules_dir == MODULES_DIR:  # a user catalog's are checked as its sources load
            _check_classes(source_file, classes, raw["build"], where)

    params = {}
    for pname, praw in (raw.get("params") or {}).items():
        _check_keys(praw, _PARAM_KEYS, f"{where}: param '{pname}'", required=("type", "default", "help"))
        if praw["type"] not in PARAM_TYPES:
            raise CatalogError(f"{where}: param '{pname}' has unknown type '{praw['type']}'")
        choices = tuple(praw["choices"]) if "choices" in praw else None
        param = Param(
            pname, praw["type"], praw["default"], praw["help"], choices, praw.get("min"), praw.get("max")
        )
        if _convert(praw["default"], param.type) != praw["default"]:
            raise CatalogError(f"{where}: param '{pname}' default {praw['default']!r} is not a {param.type}")
        params[pname] = param

    craw = raw["contract"]
    _check_keys(
        craw, _CONTRACT_KEYS, f"{where}: contract", required=("inputs", "channels", "scale", "layout")
    )
    constraints = []
    for c in craw.get("constraints") or []:
        _check_keys(c, {"check", "reason"}, f"{where}: constraint", required=("check", "reason"))
        constraints.append(Constraint(c["check"], c["reason"]))
    min_size = None
    if "min_size" in craw:
        _check_keys(craw["min_size"], {"size", "reason"}, f"{where}: min_size", required=("size", "reason"))
        min_size = MinSize(str(craw["min_size"]["size"]), craw["min_size"]["reason"])
    convs = DOUBLE_CONV if raw["slot"] == "block" else ()  # unless the entry lists its own
    if "convs" in craw:
        if raw["slot"] != "block" or not isinstance(craw["convs"], list):
            raise CatalogError(
                f"{where}: contract convs is a list of [in, out] pairs, for block modules only"
            )
        for pair in craw["convs"]:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise CatalogError(f"{where}: contract convs entry {pair!r} is not an [in, out] pair")
        convs = tuple((str(a), str(b)) for a, b in craw["convs"])
    contract = Contract(
        inputs=craw["inputs"],
        channels=str(craw["channels"]),
        scale=craw["scale"],
        layout=craw["layout"],
        align=craw.get("align"),
        constraints=tuple(constraints),
        min_size=min_size,
        convs=convs,
    )
    slot = slots[raw["slot"]]
    if contract.inputs != slot.inputs or contract.scale != slot.scale:
        raise CatalogError(
            f"{where}: slot '{slot.name}' modules take {slot.inputs} input(s) at scale {slot.scale}, "
            f"but the contract says {contract.inputs} at {contract.scale}"
        )
    if contract.align not in (None, "equal"):
        raise CatalogError(f"{where}: contract align must be 'equal' if given")

    known = set(CHANNEL_VARS) | set(params)
    sized = [min_size.size] if min_size else []
    paired = [text for pair in convs for text in pair]
    for text in [contract.channels, *(c.check for c in constraints), *sized, *paired]:
        try:
            unknown = expr.names(text) - known
        except expr.ExprError as exc:
            raise CatalogError(f"{where}: {exc}") from None
        if unknown:
            raise CatalogError(f"{where}: rule '{text}' uses unknown name '{sorted(unknown)[0]}'")
    fields = {f for _, f, _, _ in string.Formatter().parse(raw["build"]) if f}
    if fields - known:
        raise CatalogError(f"{where}: build uses unknown placeholder '{{{sorted(fields - known)[0]}}}'")

    fixtures, fixture_params = _parse_fixtures(raw.get("fixture"), params, where)
    references = []
    for ref in raw.get("reference") or []:
        _check_keys(
            ref,
            {"config", "params", "measured"},
            f"{where}: reference",
            required=("config", "params", "measured"),
        )
        references.append(Reference(ref["config"], ref["params"], ref["measured"]))

    return Entry(
        name=name,
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
        reference=tuple(references),
        notes=raw.get("notes"),
        fixtures=fixtures,
        deploy=_parse_deploy(raw["deploy"], where) if "deploy" in raw else None,
    )


def _check_classes(source_file: str, classes: tuple[str, ...], build: Any, where: str) -> None:
    """Every name in an entry's ``source.classes`` is a top-level definition of its file, and
    every class its ``build`` calls comes with them."""
    import ast

    from . import inline

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


def _parse_deploy(raw: Any, where: str) -> Deploy:
    """``{supported: [paths], unsupported: {path: reason}}``: every path exactly once."""
    _check_keys(raw, {"supported", "unsupported"}, f"{where}: deploy", required=("supported",))
    supported = raw["supported"] or []
    unsupported = raw.get("unsupported") or {}
    if not isinstance(supported, list) or not isinstance(unsupported, dict):
        raise CatalogError(f"{where}: deploy supported is a list of paths, unsupported a mapping path: reason")
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
