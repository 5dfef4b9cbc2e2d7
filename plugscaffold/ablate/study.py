"""The study spec: a baseline, factors with levels, a design -> the variants, each named and hashed.

A study file (YAML, read through :func:`plugscaffold.yamlfile.read_yaml`) looks like::

    name: my_ablation
    baseline: {width: 32, depth: 4}        # any `plugscaffold new` option
    factors:                                # any option; each a list of levels
      down: [maxpool, hwd]
      up: [convtranspose, dysample]
      attn: [none, se@enc, [se+cbam^@enc, se/cbam@dec]]   # a level may place several
    design: grid                            # grid | oat | rows
    check: {size: 64, batch: 2}
    measure: {threads: 1, repeats: 5, warmup: 1}
    train: {epochs: 2, steps_per_epoch: 20, seeds: 3}

Every option is validated by :func:`plugscaffold.spec.make_spec`, the function ``new`` uses,
so any option ``new`` takes (and any architecture the blueprints know) works here; a problem
is one line that names the file and the line.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..errors import PlugscaffoldError, StudyError, did_you_mean, shorten
from ..options import parse_size
from ..spec import PLACED_SLOT, check_project_name, make_spec

KEYS = ("name", "baseline", "factors", "design", "rows", "check", "measure", "train", "slurm")
DESIGNS = {"grid": "grid", "full": "grid", "oat": "oat", "one-at-a-time": "oat", "rows": "rows"}
CHECK_KEYS = {"size": None, "batch": 2, "timeout": 600.0}
MEASURE_KEYS = {"threads": 1, "repeats": 5, "warmup": 1}
TRAIN_KEYS = {
    "epochs": 2, "steps_per_epoch": 10, "batch_size": 4, "val_samples": 16, "lr": 1e-3, "seeds": 1,
    "metric": "dice", "data": None,
}  # fmt: skip
#: cluster: None (SLURM), or submitit's "local" / "debug" executors (this machine; for trying a study out)
SLURM_KEYS = {"partition": None, "time": 60, "gpus": 0, "cpus": 2, "mem_gb": None, "cluster": None}
METRICS = ("dice", "iou")
#: The study's default check size: one size for every variant, so that their figures compare.
DEFAULT_SIZE = 64
_SLUG = re.compile(r"[^A-Za-z0-9_.+=]+")


@dataclass(frozen=True)
class Level:
    value: Any  # a string, an int, or (attn) a list of placements
    label: str


@dataclass(frozen=True)
class Variant:
    name: str
    options: dict[str, Any]  # the options passed to generate(): baseline with the row's changes
    changes: dict[str, Any]  # what differs from the baseline (the row's own settings)
    canonical: dict[str, Any]  # Spec.options(): the model as the library sees it
    hash: str  # of the model and the check/measure settings: a change means the row is redone


@dataclass
class Study:
    name: str
    baseline: dict[str, Any]
    factors: dict[str, list[Level]]
    design: str
    check: dict[str, Any]
    measure: dict[str, Any]
    train: dict[str, Any]
    slurm: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the spec as plain data, for the manifest
    variants: list[Variant] = field(default_factory=list)
    reference: str = "baseline"  # the variant the differences are taken against

    @property
    def hash(self) -> str:
        return digest(self.data)

    def train_hash(self, variant: Variant) -> str:
        """The key of a variant's training results: its model, and the training settings."""
        return digest({"model": variant.hash, "train": {k: v for k, v in self.train.items() if k != "seeds"}})


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- reading, with line numbers ----------------------------------------------------------


class _Lined(dict):
    """A mapping that remembers the line of each key (and its own)."""

    line = 0
    lines: dict


class _LinedList(list):
    line = 0
    lines: list


def _loader() -> type:
    from ..yamlfile import SafeLoader

    class Loader(SafeLoader):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node, deep=False):  # type: ignore[override]
            lines, seen = {}, set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise StudyError(f"line {key_node.start_mark.line + 1}: key '{key}' is given twice")
                seen.add(key)
                lines[key] = key_node.start_mark.line + 1
            result = _Lined(super().construct_mapping(node, deep=True))
            result.line, result.lines = node.start_mark.line + 1, lines
            return result

        def construct_sequence(self, node, deep=False):  # type: ignore[override]
            result = _LinedList(super().construct_sequence(node, deep=True))
            result.line, result.lines = node.start_mark.line + 1, [n.start_mark.line + 1 for n in node.value]
            return result

    Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", Loader.construct_sequence)
    return Loader


def read_study(path: str | Path, catalog: Catalog) -> Study:
    """Read and validate a study file."""
    from ..yamlfile import read_yaml

    path = Path(path)
    try:
        data = read_yaml(path, error=StudyError, loader=_loader())
    except StudyError as exc:
        text = str(exc)
        raise StudyError(text if text.startswith(str(path)) else f"{path} {text}") from None
    return parse_study(data, catalog, str(path), default_name=re.sub(r"\W", "_", path.stem))


def _line(node: Any, key: Any = None) -> int:
    if key is not None and isinstance(node, _Lined):
        return node.lines.get(key, node.line)
    if key is not None and isinstance(node, _LinedList) and 0 <= key < len(node.lines):
        return node.lines[key]
    return getattr(node, "line", 0)


class _Where:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, line: int, message: str) -> StudyError:
        return StudyError(f"{self.source} line {line}: {message}" if line else f"{self.source}: {message}")


def parse_study(data: Any, catalog: Catalog, source: str = "study", default_name: str = "study") -> Study:
    where = _Where(source)
    if not isinstance(data, dict):
        raise where.error(_line(data), f"the top level must be a mapping with keys {', '.join(KEYS)}")
    for key in data:
        if key not in KEYS:
            raise where.error(
                _line(data, key),
                f"unknown key '{shorten(key)}'{did_you_mean(str(key), KEYS)}; keys: {', '.join(KEYS)}",
            )
    name = data.get("name", default_name)
    try:
        check_project_name(name)
    except PlugscaffoldError as exc:
        raise where.error(_line(data, "name"), f"name: {exc}") from None
    baseline = _options(data.get("baseline") or {}, where, _line(data, "baseline"), "baseline")
    factors = _factors(data.get("factors") or {}, where, _line(data, "factors"))
    design = data.get("design", "rows" if "rows" in data and "factors" not in data else "grid")
    if design not in DESIGNS:
        raise where.error(
            _line(data, "design"),
            f"design '{shorten(design)}' is not one of grid, oat (one factor at a time), "
            f"rows{did_you_mean(str(design), DESIGNS)}",
        )
    design = DESIGNS[design]
    rows = data.get("rows")
    if design == "rows":
        if not isinstance(rows, list) or not rows:
            raise where.error(_line(data, "design"), "design 'rows' needs 'rows': a list of option mappings")
    elif rows is not None:
        raise where.error(
            _line(data, "rows"), f"'rows' is only read with design: rows (this study's design is {design})"
        )
    elif not factors:
        raise where.error(
            _line(data), f"design '{design}' needs 'factors': a mapping of option -> list of levels"
        )
    study = Study(
        name=name,
        baseline=baseline,
        factors=factors,
        design=design,
        check=_settings(data, "check", CHECK_KEYS, where),
        measure=_settings(data, "measure", MEASURE_KEYS, where),
        train=_settings(data, "train", TRAIN_KEYS, where),
        slurm=_settings(data, "slurm", SLURM_KEYS, where),
        data=_plain(data),
    )
    if study.train["metric"] not in METRICS:
        raise where.error(_line(data, "train"), f"train: metric must be one of {', '.join(METRICS)}")
    study.rows = [_row(row, where, _line(rows, i)) for i, row in enumerate(rows or [])]
    study.variants = _variants(study, catalog, where, data)
    return study


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key(key: Any) -> str:
    return str(key).replace("-", "_")


def _options(node: Any, where: _Where, line: int, what: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise where.error(line, f"{what} must be a mapping of option: value (e.g. {{down: hwd, width: 32}})")
    return {_key(k): _plain(v) for k, v in node.items()}


def _factors(node: Any, where: _Where, line: int) -> dict[str, list[Level]]:
    if not isinstance(node, dict):
        raise where.error(line, "factors must be a mapping of option: [level, level, ...]")
    factors = {}
    for key, levels in node.items():
        at = _line(node, key)
        if not isinstance(levels, list) or not levels:
            raise where.error(at, f"factor '{key}' needs a list of levels, e.g. {key}: [a, b]")
        parsed = []
        for i, level in enumerate(levels):
            label = None
            if isinstance(level, dict):
                unknown = set(level) - {"value", "label"}
                if unknown or "value" not in level:
                    raise where.error(
                        _line(levels, i), f"factor '{key}': a level mapping has 'value' and 'label' only"
                    )
                label, level = level.get("label"), level["value"]
            parsed.append(Level(_plain(level), str(label) if label is not None else slug(level)))
        labels = [level.label for level in parsed]
        for label in labels:
            if labels.count(label) > 1:
                raise where.error(
                    at, f"factor '{key}': two levels are both named '{label}'; give one a label"
                )
        factors[_key(key)] = parsed
    return factors


def _row(node: Any, where: _Where, line: int) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise where.error(
            line, "each row is a mapping of the options that differ from the baseline (and a name)"
        )
    return {_key(k) if k != "name" else "name": _plain(v) for k, v in node.items()} | {"_line": _line(node)}


def _settings(data: dict, key: str, defaults: dict, where: _Where) -> dict[str, Any]:
    node = data.get(key) or {}
    if not isinstance(node, dict):
        raise where.error(_line(data, key), f"{key} must be a mapping with keys {', '.join(defaults)}")
    settings = dict(defaults)
    for name, value in node.items():
        name_ = _key(name)
        if name_ not in defaults:
            raise where.error(
                _line(node, name),
                f"{key}: unknown key '{shorten(name)}'{did_you_mean(name_, defaults)}; "
                f"keys: {', '.join(defaults)}",
            )
        settings[name_] = _plain(value)
    return validate_settings(
        key, settings, lambda message: where.error(_line(node, name_ if node else 0), message)
    )


def validate_settings(key: str, settings: dict, error) -> dict:
    """Numbers where numbers go (shared by the study file and the command line's flags)."""
    for name, value in settings.items():
        default = {"check": CHECK_KEYS, "measure": MEASURE_KEYS, "train": TRAIN_KEYS, "slurm": SLURM_KEYS}[
            key
        ][name]
        if name == "cluster" and value not in (None, "slurm", "local", "debug"):
            raise error(f"slurm: cluster must be slurm, local or debug, got {shorten(value)}")
        if (
            value is None
            or name in ("metric", "data", "partition", "cluster")
            or (key == "check" and name == "size")
        ):
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        least = 0 if (key, name) in (("slurm", "gpus"), ("measure", "warmup")) else 1
        integer = isinstance(default, int) or default is None
        if not number or (integer and (not isinstance(value, int) or value < least)) or value <= 0 < least:
            raise error(
                f"{key}: {name} must be a positive {'integer' if integer else 'number'}, got {shorten(value)}"
            )
    size = settings.get("size") if key == "check" else None
    if size is not None:
        try:
            settings["size"] = list(parse_size(str(size)))
        except PlugscaffoldError as exc:
            raise error(f"check: {exc}") from None
    return settings


def slug(value: Any) -> str:
    """A level as a file-name part: 'dysample:style=pl' -> 'dysample.style=pl'."""
    if isinstance(value, list):
        return "+".join(slug(v) for v in value) or "none"
    text = str(value).replace(":", ".").replace("@", ".at.")
    return _SLUG.sub("-", text).strip("-") or "none"


# --- the variants --------------------------------------------------------------------------


def _variants(study: Study, catalog: Catalog, where: _Where, data: dict) -> list[Variant]:
    base = _canonical(catalog, study.baseline, where, _line(data, "baseline"), "baseline")
    rows: list[tuple[dict, str | None, int]] = []
    if study.design != "rows":
        rows.append(({}, "baseline", _line(data, "baseline")))
    if study.design == "grid":
        keys = list(study.factors)
        for combo in itertools.product(*(study.factors[k] for k in keys)):
            rows.append(
                ({k: level for k, level in zip(keys, combo)}, None, _line(data.get("factors"), keys[0]))
            )
    elif study.design == "oat":
        for key, levels in study.factors.items():
            rows += [({key: level}, None, _line(data.get("factors"), key)) for level in levels]
    else:
        for row in study.rows:
            row = dict(row)
            line = row.pop("_line")
            name = row.pop("name", None)
            rows.append(({k: Level(v, slug(v)) for k, v in row.items()}, name, line))
    variants: list[Variant] = []
    seen: dict[str, Variant] = {}
    for changes, name, line in rows:
        options = {**study.baseline, **{k: level.value for k, level in changes.items()}}
        canonical = _canonical(catalog, options, where, line, "row")
        differs = {k: level for k, level in changes.items() if canonical.get(k) != base.get(k)}
        if name is None:
            name = (
                "__".join(f"{k.replace('_', '-')}-{level.label}" for k, level in differs.items())
                or "baseline"
            )
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+=-]*", str(name)) or len(str(name)) > 200:
            raise where.error(
                line, f"variant name '{shorten(name)}' is not a safe folder name (letters, digits, _ . + = -)"
            )
        variant = Variant(
            name=str(name),
            options=options,
            changes={k: level.value for k, level in differs.items()},
            canonical=canonical,
            hash=_model_hash(study, canonical, catalog),
        )
        if variant.name in seen:
            if seen[variant.name].canonical == canonical:
                continue  # the grid's corner that is the baseline, or a row given twice
            raise where.error(line, f"two variants are both named '{variant.name}'; name the row (name: ...)")
        seen[variant.name] = variant
        variants.append(variant)
    if not any(v.canonical == base for v in variants):
        if not study.baseline:  # a paper's table without a baseline: its first row is the reference
            study.reference = variants[0].name
            return variants
        variants.insert(
            0, Variant("baseline", dict(study.baseline), {}, base, _model_hash(study, base, catalog))
        )
    study.reference = next(v.name for v in variants if v.canonical == base)
    return variants


def _model_hash(study: Study, canonical: dict, catalog: Catalog) -> str:
    """What a variant's files and figures follow from: a change means its row is redone."""
    settings = {"check": study.check, "measure": study.measure, "catalog": catalog.version}
    return digest({"model": canonical, **settings})


def _canonical(catalog: Catalog, options: dict, where: _Where, line: int, what: str) -> dict[str, Any]:
    """The options as the library sees them (validated by make_spec, as ``new`` validates them)."""
    given = dict(options)
    attn = given.get(PLACED_SLOT)
    if isinstance(attn, str) and attn.strip().lower() == "none":
        given[PLACED_SLOT] = []
    try:
        return make_spec(catalog, "variant", given).options()
    except PlugscaffoldError as exc:
        raise where.error(line, f"{what}: {exc}") from None


def generate_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options mapping for generate() ('none' as the attention level means no placement)."""
    options = dict(options)
    attn = options.get(PLACED_SLOT)
    if isinstance(attn, str) and attn.strip().lower() == "none":
        options[PLACED_SLOT] = []
    return options
