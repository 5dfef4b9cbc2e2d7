"""The catalog's records: a loaded Catalog, its Slots and Entries, an Entry's Contract, Params,
References and Deploy record, and the vocabulary of licences the catalog uses."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from ..errors import SpecError, did_you_mean
from ..resources import MODULES_DIR

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
        value = convert_value(raw, self.type)
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


def convert_value(raw: Any, type_name: str) -> Any:
    """``raw`` (a CLI string or a YAML scalar) as a value of ``type_name``; None if it is not one."""
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
    # code ours follows that is not the authors' (a reimplementation, a library)
    reference_code: str | None = None
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
