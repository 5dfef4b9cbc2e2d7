"""The homework spec: who gets what, from which pool, for how many points."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .. import blueprints
from ..catalog import NONE, Catalog
from ..choice import resolve_choice
from ..errors import HomeworkError as HomeworkError  # re-exported: defined in errors.py
from ..errors import SpecError, did_you_mean
from ..options import Check, parse_size
from ..spec import PLACED_SLOT, check_project_name
from .records import CATEGORIES, DEFAULT_POINTS

_SPEC_KEYS = (
    "title", "seed", "name", "model", "pool", "implement", "students", "groups", "assign", "points", "check",
)  # fmt: skip
_CHECK_KEYS = ("smoke", "size", "batch", "timeout")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


@dataclass(frozen=True)
class Student:
    """One assignment: a student, or a group (``members``) that hands in one submission."""

    id: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class HomeworkSpec:
    title: str
    seed: int
    name: str
    model: Mapping[str, Any]
    pool: Mapping[str, tuple[str, ...]]
    implement: tuple[str, ...]
    students: tuple[Student, ...]
    assign: Mapping[str, Mapping[str, str]]  # student id -> pinned choices
    points: Mapping[str, float]  # category -> points
    smoke: bool
    check: Check
    source: str  # the spec file's name, for the manifest


def load_spec(path: str | Path, catalog: Catalog) -> HomeworkSpec:
    """Read and validate a homework spec file; every problem is one SpecError line."""
    from ..yamlfile import read_yaml  # size, depth and alias limits, as for every YAML read

    path = Path(path)
    return parse_spec(read_yaml(path, error=SpecError), catalog, path.name)


def parse_spec(data: Any, catalog: Catalog, source: str = "homework.yaml") -> HomeworkSpec:
    from ..spec import make_spec

    where = source
    if not isinstance(data, dict):
        raise SpecError(f"{where}: the top level must be a mapping with keys {', '.join(_SPEC_KEYS)}")
    for key in data:
        if key not in _SPEC_KEYS:
            raise SpecError(
                f"{where}: unknown key '{key}'{did_you_mean(str(key), _SPEC_KEYS)}; "
                f"keys: {', '.join(_SPEC_KEYS)}"
            )
    seed = data.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise SpecError(
            f"{where}: 'seed' must be an integer from 0 to 2**31 - 1 (it makes the draw reproducible), "
            f"got {seed!r}"
        )
    name = str(data.get("name", "homework"))
    check_project_name(name)
    model = _parse_model(data.get("model") or {}, catalog, where)
    pool = _parse_pool(data.get("pool") or {}, model, catalog, where)
    implement = _parse_implement(data.get("implement"), pool, model, catalog, where)
    students = _parse_students(data, where)
    assign = _parse_assign(data.get("assign") or {}, students, pool, where)
    points = _parse_points(data.get("points") or {}, where)
    smoke, check = _parse_check(data.get("check") or {}, where)

    # every choice on its own must be a valid option (combinations are planned per student)
    try:
        make_spec(catalog, name, model)
    except SpecError as exc:
        raise SpecError(f"{where}: model: {exc}") from None
    for slot, choices in pool.items():
        for text in choices:
            try:
                make_spec(catalog, name, {**model, slot: text})
            except SpecError as exc:
                raise SpecError(f"{where}: pool.{slot}: {exc}") from None
    return HomeworkSpec(
        title=str(data.get("title") or "Homework"),
        seed=seed,
        name=name,
        model=model,
        pool=pool,
        implement=implement,
        students=students,
        assign=assign,
        points=points,
        smoke=smoke,
        check=check,
        source=source,
    )


def _parse_model(model: Any, catalog: Catalog, where: str) -> dict[str, Any]:
    if not isinstance(model, dict):
        raise SpecError(
            f"{where}: 'model' must be a mapping of 'plugscaffold new' options, e.g. {{width: 16, depth: 2}}"
        )
    known = (*blueprints.option_names(), *catalog.slots)
    model = {str(k).replace("-", "_"): v for k, v in model.items()}
    for key in model:
        if key not in known:
            raise SpecError(
                f"{where}: model: unknown option '{key}'{did_you_mean(key, known)}; "
                f"options: {', '.join(known)}"
            )
    return model


def _parse_pool(
    raw: Any, model: Mapping[str, Any], catalog: Catalog, where: str
) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: 'pool' must map slots to lists of choices, e.g. {{attn: [se, cbam]}}")
    pool: dict[str, tuple[str, ...]] = {}
    for slot, choices in raw.items():
        slot = str(slot)
        if slot not in catalog.slots:
            raise SpecError(
                f"{where}: pool: unknown slot '{slot}'{did_you_mean(slot, catalog.slots)}; "
                f"slots: {', '.join(catalog.slots)}"
            )
        if slot in model:
            raise SpecError(
                f"{where}: slot '{slot}' is both fixed in 'model' and drawn from 'pool'; keep one"
            )
        if isinstance(choices, str):
            choices = [choices]
        if not isinstance(choices, list) or not choices:
            raise SpecError(f"{where}: pool.{slot} must be a non-empty list of choices")
        texts = tuple(str(c) for c in choices)
        if len(set(texts)) != len(texts):
            raise SpecError(f"{where}: pool.{slot} lists a choice twice")
        pool[slot] = texts
    return pool


def _parse_implement(
    implement: Any,
    pool: Mapping[str, tuple[str, ...]],
    model: Mapping[str, Any],
    catalog: Catalog,
    where: str,
) -> tuple[str, ...]:
    if isinstance(implement, str):
        implement = [implement]
    if not isinstance(implement, list) or not implement:
        raise SpecError(
            f"{where}: 'implement' must list the slots whose module the students write, e.g. [attn]"
        )
    slots = tuple(dict.fromkeys(str(s) for s in implement))
    for slot in slots:
        if slot not in catalog.slots:
            raise SpecError(f"{where}: implement: unknown slot '{slot}'{did_you_mean(slot, catalog.slots)}")
        for text in pool.get(slot, (str(model.get(slot) or catalog.slots[slot].default),)):
            _check_implementable(catalog, slot, text, where)
    return slots


def _check_implementable(catalog: Catalog, slot: str, text: str, where: str) -> None:
    """A slot students implement must hold a plug-in with code, not a built-in layer."""
    if slot == PLACED_SLOT:
        if text.strip() == NONE:
            raise SpecError(
                f"{where}: implement: the {slot} slot is 'none' (no module); "
                "draw it from a pool, e.g. pool: {attn: [se, cbam]}"
            )
        return  # attention expressions are checked per student, after planning
    entry, _, _ = resolve_choice(catalog, slot, text, f"{where}: {slot} {text}")
    if entry is None or not entry.classes:
        what = f"the built-in layer {entry.build}" if entry else "no module"
        raise SpecError(
            f"{where}: implement: the {slot} choice '{text}' is {what}, so there is nothing to implement; "
            f"remove it from pool.{slot} or '{slot}' from implement"
        )


def _parse_students(data: Mapping[str, Any], where: str) -> tuple[Student, ...]:
    if ("students" in data) == ("groups" in data):
        raise SpecError(
            f"{where}: give either 'students' (a list of ids) or 'groups' (id: [members]), "
            "not both or neither"
        )
    if "students" in data:
        raw = data["students"]
        if not isinstance(raw, list) or not raw:
            raise SpecError(f"{where}: 'students' must be a non-empty list of ids")
        students = [Student(str(s)) for s in raw]
    else:
        raw = data["groups"]
        if not isinstance(raw, dict) or not raw:
            raise SpecError(f"{where}: 'groups' must map group ids to lists of members")
        students = []
        for gid, members in raw.items():
            members = [members] if isinstance(members, str) else members
            if not isinstance(members, list) or not members:
                raise SpecError(f"{where}: group '{gid}' must list its members")
            students.append(Student(str(gid), tuple(str(m) for m in members)))
    seen: dict[str, str] = {}
    for student in students:
        if not _ID_RE.match(student.id) or student.id in (".", ".."):
            raise SpecError(
                f"{where}: id '{student.id}' names a folder, so it may use letters, digits, '_', '.' and '-' "
                "and must start with a letter or digit"
            )
        if student.id.lower() in seen:
            raise SpecError(
                f"{where}: ids '{seen[student.id.lower()]}' and '{student.id}' name the same folder"
            )
        seen[student.id.lower()] = student.id
    return tuple(students)


def _parse_assign(
    raw: Any, students: tuple[Student, ...], pool: Mapping[str, tuple[str, ...]], where: str
) -> dict[str, dict[str, str]]:
    """``assign: {alice: {attn: cbam}}`` pins choices for a student; each must be in the pool."""
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: 'assign' must map student ids to choices, e.g. {{alice: {{attn: cbam}}}}")
    ids = [s.id for s in students]
    assign: dict[str, dict[str, str]] = {}
    for sid, choices in raw.items():
        sid = str(sid)
        if sid not in ids:
            raise SpecError(f"{where}: assign: unknown student '{sid}'{did_you_mean(sid, ids)}")
        if not isinstance(choices, dict) or not choices:
            raise SpecError(f"{where}: assign.{sid} must map slots to choices, e.g. {{attn: cbam}}")
        for slot, text in choices.items():
            slot, text = str(slot), str(text)
            if slot not in pool:
                raise SpecError(
                    f"{where}: assign.{sid}: '{slot}' is not a pooled slot{did_you_mean(slot, pool)}; "
                    f"pooled: {', '.join(pool) or 'none'}"
                )
            if text not in pool[slot]:
                raise SpecError(
                    f"{where}: assign.{sid}.{slot}: '{text}' is not in pool.{slot}"
                    f"{did_you_mean(text, pool[slot])}; add it to the pool first"
                )
        assign[sid] = {str(k): str(v) for k, v in choices.items()}
    return assign


def _parse_points(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: 'points' must map categories to points, e.g. {{outputs: 50}}")
    points = dict(DEFAULT_POINTS)
    for key, value in raw.items():
        key = str(key)
        if key not in CATEGORIES:
            raise SpecError(
                f"{where}: points: unknown category '{key}'{did_you_mean(key, CATEGORIES)}; "
                f"categories: {', '.join(CATEGORIES)}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise SpecError(f"{where}: points.{key} must be a number of points >= 0, got {value!r}")
        points[key] = float(value)
    if points["outputs"] <= 0:
        raise SpecError(
            f"{where}: points.outputs must be positive: output equality is what the grade measures"
        )
    return points


def _parse_check(raw: Any, where: str) -> tuple[bool, Check]:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: 'check' must be a mapping with keys {', '.join(_CHECK_KEYS)}")
    for key in raw:
        if key not in _CHECK_KEYS:
            raise SpecError(f"{where}: check: unknown key '{key}'{did_you_mean(str(key), _CHECK_KEYS)}")
    smoke = raw.get("smoke", False)
    if not isinstance(smoke, bool):
        raise SpecError(f"{where}: check.smoke must be true or false")
    try:
        height, width = parse_size(str(raw.get("size", 64)))
    except (SpecError, ValueError) as exc:
        raise SpecError(f"{where}: check.size '{raw.get('size')}' is not a size ({exc})") from None
    batch, timeout = raw.get("batch", 2), raw.get("timeout", 600)
    if not (isinstance(batch, int) and batch >= 1 and isinstance(timeout, (int, float)) and timeout > 0):
        raise SpecError(
            f"{where}: check.batch must be a positive integer and check.timeout a positive number of seconds"
        )
    return smoke, Check(height, width, batch, float(timeout))
