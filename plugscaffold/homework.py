"""Homework: per-student variants of a generated model (``plugscaffold homework``) and grading.

:func:`make_homework` reads a small spec (seed, shared model options, a pool of choices per
slot, the slots the students implement, the students or groups), draws one set of choices
per student reproducibly from the seed, generates each model with the pipeline and writes:

``DIR/solutions/<id>/``
    the generated project (model.py, .plugscaffold.yml), the tests and reference.pt;
``DIR/students/<id>/``
    the same model.py with the classes of the slots to implement replaced by documented
    TODO stubs, test_assignment.py, reference.pt (tensors only: inputs, the reference
    solution's state_dict, expected outputs) and README.md;
``DIR/homework.yml``
    who got what, and how many tests each assignment has (read by :func:`grade`).

:func:`grade` runs each student's tests against the model.py in ``SUBMISSIONS/<id>/``, in a
subprocess per submission, and writes one CSV row per student.

Generation stays torch-free: the reference outputs come from one worker subprocess
(:func:`_reference_worker`) that imports torch and runs every solution.
"""

from __future__ import annotations

import ast
import copy
import csv
import itertools
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping
from xml.etree import ElementTree

import yaml

from . import __version__, expr
from .catalog import CHANNEL_VARS, NONE, Catalog, Entry, load_catalog
from .choice import resolve_choice
from .errors import PlugscaffoldError, SpecError, TargetError, did_you_mean
from .plan import Shape, literal
from .resources import PACKAGE_DIR
from .smoke import Check
from .spec import PLACED_SLOT, check_project_name

MANIFEST = "homework.yml"
TEST_FILE = "test_assignment.py"
REFERENCE_FILE = "reference.pt"
#: Input sizes (H, W) of the per-module tests: a square one and a non-square one.
TEST_SIZES = ((8, 8), (6, 10))
#: Two cases at most per class: its first construction and the one whose channels differ most.
CASES_PER_CLASS = 2
MAX_COMBINATIONS = 100_000
GRADE_TIMEOUT = 300.0
CSV_COLUMNS = ("student", "passed", "failed", "score", "first_failure")

_SPEC_KEYS = ("title", "seed", "name", "model", "pool", "implement", "students", "groups", "check")
_CHECK_KEYS = ("smoke", "size", "batch", "timeout")
_SIZE_KEYS = ("arch", "in_channels", "classes", "depth", "width")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_SCALES = {0.5: "H/2, W/2", 1: "H, W", 2: "2H, 2W"}


class HomeworkError(PlugscaffoldError):
    """The homework could not be generated or graded (one line, like every other error)."""


# --- the spec ------------------------------------------------------------------------------


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
    smoke: bool
    check: Check
    source: str  # the spec file's name, for the manifest


def load_spec(path: str | Path, catalog: Catalog) -> HomeworkSpec:
    """Read and validate a homework spec file; every problem is one SpecError line."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read homework spec {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_spec(data, catalog, path.name)


def parse_spec(data: Any, catalog: Catalog, source: str = "homework.yaml") -> HomeworkSpec:
    from .spec import make_spec

    where = source
    if not isinstance(data, dict):
        raise SpecError(f"{where}: the top level must be a mapping with keys {', '.join(_SPEC_KEYS)}")
    for key in data:
        if key not in _SPEC_KEYS:
            raise SpecError(
                f"{where}: unknown key '{key}'{did_you_mean(str(key), _SPEC_KEYS)}; keys: {', '.join(_SPEC_KEYS)}"
            )
    seed = data.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise SpecError(
            f"{where}: 'seed' must be an integer from 0 to 2**31 - 1 (it makes the draw reproducible), got {seed!r}"
        )
    name = str(data.get("name", "homework"))
    check_project_name(name)
    title = str(data.get("title") or "Homework")

    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise SpecError(
            f"{where}: 'model' must be a mapping of 'plugscaffold new' options, e.g. {{width: 16, depth: 2}}"
        )
    known = (*_SIZE_KEYS, *catalog.slots)
    model = {str(k).replace("-", "_"): v for k, v in model.items()}
    for key in model:
        if key not in known:
            raise SpecError(
                f"{where}: model: unknown option '{key}'{did_you_mean(key, known)}; options: {', '.join(known)}"
            )

    pool_raw = data.get("pool") or {}
    if not isinstance(pool_raw, dict):
        raise SpecError(f"{where}: 'pool' must map slots to lists of choices, e.g. {{attn: [se, cbam]}}")
    pool: dict[str, tuple[str, ...]] = {}
    for slot, choices in pool_raw.items():
        slot = str(slot)
        if slot not in catalog.slots:
            raise SpecError(
                f"{where}: pool: unknown slot '{slot}'{did_you_mean(slot, catalog.slots)}; slots: {', '.join(catalog.slots)}"
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

    implement = data.get("implement")
    if isinstance(implement, str):
        implement = [implement]
    if not isinstance(implement, list) or not implement:
        raise SpecError(
            f"{where}: 'implement' must list the slots whose module the students write, e.g. [attn]"
        )
    implement = tuple(dict.fromkeys(str(s) for s in implement))
    for slot in implement:
        if slot not in catalog.slots:
            raise SpecError(f"{where}: implement: unknown slot '{slot}'{did_you_mean(slot, catalog.slots)}")
        for text in pool.get(slot, (str(model.get(slot) or catalog.slots[slot].default),)):
            _check_implementable(catalog, slot, text, where)

    students = _parse_students(data, where)
    check = _parse_check(data.get("check") or {}, where)

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
        title=title,
        seed=seed,
        name=name,
        model=model,
        pool=pool,
        implement=implement,
        students=students,
        smoke=check[0],
        check=check[1],
        source=source,
    )


def _check_implementable(catalog: Catalog, slot: str, text: str, where: str) -> None:
    """A slot students implement must hold a plug-in with code, not a built-in layer."""
    if slot == PLACED_SLOT:
        if text.strip() == NONE:
            raise SpecError(
                f"{where}: implement: the {slot} slot is 'none' (no module); draw it from a pool, e.g. pool: {{attn: [se, cbam]}}"
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
            f"{where}: give either 'students' (a list of ids) or 'groups' (id: [members]), not both or neither"
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


def _parse_check(raw: Any, where: str) -> tuple[bool, Check]:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: 'check' must be a mapping with keys {', '.join(_CHECK_KEYS)}")
    for key in raw:
        if key not in _CHECK_KEYS:
            raise SpecError(f"{where}: check: unknown key '{key}'{did_you_mean(str(key), _CHECK_KEYS)}")
    smoke = raw.get("smoke", False)
    if not isinstance(smoke, bool):
        raise SpecError(f"{where}: check.smoke must be true or false")
    size = str(raw.get("size", 64))
    match = re.fullmatch(r"\s*(\d+)\s*(?:[x,]\s*(\d+)\s*)?", size)
    if not match:
        raise SpecError(f"{where}: check.size '{size}' is not a size; use H or HxW, e.g. 64 or 64x96")
    height, width = int(match.group(1)), int(match.group(2) or match.group(1))
    batch, timeout = raw.get("batch", 2), raw.get("timeout", 600)
    if not (isinstance(batch, int) and batch >= 1 and isinstance(timeout, (int, float)) and timeout > 0):
        raise SpecError(
            f"{where}: check.batch must be a positive integer and check.timeout a positive number of seconds"
        )
    if not (1 <= height <= 8192 and 1 <= width <= 8192):
        raise SpecError(f"{where}: check.size {height}x{width} must be between 1 and 8192 on each side")
    return smoke, Check(height, width, batch, float(timeout))


# --- the draw ------------------------------------------------------------------------------


def draw(spec: HomeworkSpec) -> list[dict[str, str]]:
    """One choice per pooled slot for every student, reproducibly from the seed.

    All combinations are shuffled by the seed; each student, in the order of the spec, takes
    the next unused combination whose choices for the slots to implement have been given
    out least so far (then: whose other choices have been given out least). So the
    implemented modules are spread as evenly as the pool allows, no two students share a
    combination until all are taken, and adding students at the end of the list keeps the
    assignments of those before them.
    """
    slots = sorted(spec.pool)
    sizes = [len(spec.pool[s]) for s in slots]
    if math.prod(sizes) > MAX_COMBINATIONS:
        raise SpecError(
            f"the pool has {math.prod(sizes):,} combinations, more than {MAX_COMBINATIONS:,}; use fewer choices"
        )
    combos = [dict(zip(slots, c)) for c in itertools.product(*(spec.pool[s] for s in slots))]
    rng = random.Random(spec.seed)
    rng.shuffle(combos)
    implemented = [s for s in slots if s in spec.implement]
    uses: dict[tuple[str, ...], int] = {}
    given: dict[tuple[str, str], int] = {}
    unused = list(combos)
    picked = []
    for _ in spec.students:
        if not unused:
            unused = list(combos)
            rng.shuffle(unused)
        ranks = [
            (
                uses.get(tuple(c[s] for s in implemented), 0),
                sum(given.get((s, c[s]), 0) for s in slots if s not in implemented),
            )
            for c in unused
        ]
        combo = unused.pop(ranks.index(min(ranks)))
        task = tuple(combo[s] for s in implemented)
        uses[task] = uses.get(task, 0) + 1
        for s in slots:
            given[(s, combo[s])] = given.get((s, combo[s]), 0) + 1
        picked.append(combo)
    return picked


# --- generation ----------------------------------------------------------------------------


@dataclass
class _Variant:
    """One student's assignment while it is being built."""

    student: Student
    choices: dict[str, str]
    generated: Any  # pipeline.Generated
    entries: list[Entry]  # the catalog entries the student implements
    classes: list[str]  # their classes, in the order of model.py
    reference: dict[str, Any] | None = None  # what the worker measured


def make_homework(
    spec_path: str | Path, out_dir: str | Path, catalog: Catalog | None = None, *, force: bool = False
) -> list[Path]:
    """Generate the assignment for every student of ``spec_path`` into ``out_dir``; return the files.

    Nothing is written unless every variant generates and its reference solution passes its
    own checks. An existing, non-empty ``out_dir`` is refused unless ``force``, which
    replaces ``students/``, ``solutions/`` and ``homework.yml`` and keeps any other file.
    """
    from .answers import ANSWERS_FILE, answers, dump_answers
    from .pipeline import generate
    from .render import with_parameters

    catalog = catalog or load_catalog()
    spec = load_spec(spec_path, catalog)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TargetError(f"{out} exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise TargetError(f"{out} already exists and is not empty; pass --force to regenerate the assignment")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise TargetError(f"the parent of {out} does not exist; create it first")

    variants = []
    for student, choices in zip(spec.students, draw(spec)):
        label = ", ".join(f"{k}={v}" for k, v in choices.items())
        try:
            gen = generate(
                spec.name,
                {**spec.model, **choices},
                check=spec.check,
                smoke=spec.smoke,
                write=False,
                catalog=catalog,
            )
        except PlugscaffoldError as exc:
            raise HomeworkError(f"student '{student.id}' ({label}): {exc}") from None
        entries = [e for e in gen.plan.entries if e.slot in spec.implement and e.classes]
        for slot in spec.implement:
            if not any(e.slot == slot for e in entries):
                raise HomeworkError(
                    f"student '{student.id}' ({label}): the {slot} slot holds no plug-in with code to implement; "
                    f"choose catalog modules for {slot} (see 'plugscaffold list {slot}')"
                )
        wanted = {c for e in entries for c in e.classes}
        classes = [c for c in gen.plan.class_names if c in wanted]
        variants.append(_Variant(student, choices, gen, entries, classes))

    scratch = Path(tempfile.mkdtemp(prefix=".plugscaffold-homework-", dir=parent))
    stage = scratch / "assignment"  # mkdir's default mode, unlike mkdtemp's 0700
    try:
        stage.mkdir()
        for variant in variants:
            folder = stage / "solutions" / variant.student.id
            folder.mkdir(parents=True)
            (folder / "model.py").write_text(variant.generated.source, encoding="utf-8")
            (stage / "students" / variant.student.id).mkdir(parents=True)
        _run_reference(scratch, stage, variants, spec)
        for variant in variants:
            sid, gen, ref = variant.student.id, variant.generated, variant.reference
            solution, student = stage / "solutions" / sid, stage / "students" / sid
            source = gen.source if gen.smoke else with_parameters(gen.source, ref["model"]["parameters"])
            contents = dict(gen.contents)
            contents["model.py"] = source
            if ANSWERS_FILE in contents and not gen.smoke:
                contents[ANSWERS_FILE] = dump_answers(answers(gen.plan, catalog, ref["model"]["parameters"]))
            tests = _render_tests(variant, spec)
            for relative, text in {**contents, TEST_FILE: tests}.items():
                (solution / relative).parent.mkdir(parents=True, exist_ok=True)
                (solution / relative).write_text(text, encoding="utf-8")
            (student / "model.py").write_text(_student_source(source, variant, spec), encoding="utf-8")
            (student / TEST_FILE).write_text(tests, encoding="utf-8")
            (student / "README.md").write_text(_render_readme(variant, spec), encoding="utf-8")
            shutil.copyfile(student / REFERENCE_FILE, solution / REFERENCE_FILE)
        (stage / MANIFEST).write_text(_manifest(variants, spec, catalog), encoding="utf-8")
        relatives = sorted(p.relative_to(stage) for p in stage.rglob("*") if p.is_file())
        _commit(stage, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [out / relative for relative in relatives]


def _commit(stage: Path, out: Path) -> None:
    """Move the staged assignment into ``out``: one rename if it is new, else part by part."""
    if not out.exists():
        os.rename(stage, out)
        return
    for part in (MANIFEST, "students", "solutions"):
        target = out / part
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(stage / part, target)


def _manifest(variants: list[_Variant], spec: HomeworkSpec, catalog: Catalog) -> str:
    data = {
        "title": spec.title,
        "spec": spec.source,
        "seed": spec.seed,
        "plugscaffold_version": __version__,
        "catalog_version": catalog.version,
        "test_file": TEST_FILE,
        "students": [
            {
                "id": v.student.id,
                **({"members": list(v.student.members)} if v.student.members else {}),
                "choices": dict(v.choices),
                "implement": [
                    {"slot": e.slot, "module": e.name, "classes": list(e.classes)} for e in v.entries
                ],
                "tests": _test_count(v.reference),
            }
            for v in variants
        ],
    }
    header = "# plugscaffold homework: who got what. 'plugscaffold grade' reads this file.\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def read_manifest(assignment_dir: str | Path) -> dict[str, Any]:
    path = Path(assignment_dir) / MANIFEST
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise HomeworkError(
            f"{assignment_dir} has no {MANIFEST}; pass the --out folder of 'plugscaffold homework'"
        ) from None
    except yaml.YAMLError:
        raise HomeworkError(f"{path} is not valid YAML; regenerate the assignment") from None
    if not isinstance(data, dict) or not isinstance(data.get("students"), list):
        raise HomeworkError(f"{path} lists no students; regenerate the assignment")
    return data


def format_assignments(assignment_dir: str | Path) -> str:
    """One line per student: the drawn choices, the classes to implement, the number of tests."""
    data = read_manifest(assignment_dir)
    rows = [("student", "choices", "implements", "tests")]
    for s in data["students"]:
        choices = ", ".join(f"{k} {v}" for k, v in (s.get("choices") or {}).items()) or "-"
        todo = ", ".join(f"{c} ({t['slot']} {t['module']})" for t in s["implement"] for c in t["classes"])
        rows.append((s["id"], choices, todo, str(s["tests"])))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows]
    root = Path(assignment_dir)
    lines += [
        "",
        f"Students     {root / 'students'}/<id>/: model.py with TODO stubs, {TEST_FILE}, {REFERENCE_FILE}, README.md",
        f"Solutions    {root / 'solutions'}/<id>/: the generated project and the same tests (keep them private)",
        f"Grade        plugscaffold grade {root} SUBMISSIONS/ --csv grades.csv  (SUBMISSIONS/<id>/model.py)",
    ]
    return "\n".join(lines)


# --- the reference solution: one torch subprocess for all students --------------------------


def _run_reference(scratch: Path, stage: Path, variants: list[_Variant], spec: HomeworkSpec) -> None:
    """Run every solution in one torch subprocess; it writes each student's reference.pt."""
    jobs = []
    for index, variant in enumerate(variants):
        plan = variant.generated.plan
        jobs.append(
            {
                "index": index,
                "path": str(stage / "solutions" / variant.student.id / "model.py"),
                "pt": str(stage / "students" / variant.student.id / REFERENCE_FILE),
                "class_name": plan.class_name,
                "in_channels": plan.input.channels,
                "size": 2 * plan.divisor,
                "classes": variant.classes,
                "seed": spec.seed,
                "sizes": [list(s) for s in TEST_SIZES],
                "parameters": [p for e in variant.entries for p in _reference_calls(e)],
                "probes": [p for e in variant.entries for p in _probes(e)],
            }
        )
    request = scratch / "reference-request.json"
    result = scratch / "reference-result.json"
    request.write_text(json.dumps({"jobs": jobs, "result": str(result)}), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_DIR.parent), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    code = "import sys; from plugscaffold.homework import _reference_worker; _reference_worker(sys.argv[1])"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(request)],
            capture_output=True,
            text=True,
            timeout=spec.check.timeout,
            env=env,
            cwd=scratch,
        )
    except subprocess.TimeoutExpired:
        raise HomeworkError(
            f"computing the reference outputs timed out after {spec.check.timeout:g} s"
        ) from None
    if proc.returncode != 0 or not result.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise HomeworkError(f"computing the reference outputs crashed (exit {proc.returncode}): {last}")
    outcomes = json.loads(result.read_text(encoding="utf-8"))
    for variant, outcome in zip(variants, outcomes):
        if "error" in outcome:
            raise HomeworkError(
                f"student '{variant.student.id}': the reference solution failed: {outcome['error']}"
            )
        variant.reference = outcome


def _call_parts(code: str, classes: Iterable[str]) -> dict[str, Any] | None:
    """``Name(literal, key=literal)`` -> class, args and kwargs as source text; None otherwise."""
    try:
        call = ast.parse(code, mode="eval").body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in classes):
            return None
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except (SyntaxError, ValueError):
        return None
    return {"class": call.func.id, "args": repr(args), "kwargs": repr(kwargs), "call": code}


def _build(entry: Entry, env: Mapping[str, Any]) -> str:
    fields = {k: (v if k in CHANNEL_VARS else literal(v)) for k, v in env.items()}
    return entry.build.format(**fields)


def _reference_env(entry: Entry, config: Mapping[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = {name: p.default for name, p in entry.params.items()}
    env.update({k: v for k, v in config.items() if k in entry.params})
    env.update({c: config.get(c) for c in CHANNEL_VARS})
    return env


def _reference_calls(entry: Entry) -> list[dict[str, Any]]:
    """The catalog's reference configurations (parameter counts measured on the official code)."""
    calls, seen = [], set()
    for ref in entry.reference:
        parts = _call_parts(_build(entry, _reference_env(entry, ref.config)), entry.classes)
        if parts and parts["call"] not in seen:
            seen.add(parts["call"])
            calls.append({**parts, "catalog": ref.params})
    return calls


def _candidates(entry: Entry, name: str, base: Any) -> list[Any]:
    if name in CHANNEL_VARS:
        return [] if base is None else [1, 2, 3, 4, 5, 6, 7, 8, 12, 30, 48]
    param = entry.params[name]
    if param.choices is not None:
        return list(param.choices)
    if param.type == "bool":
        return [False, True]
    if param.type == "int":
        values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64]
        return [
            v
            for v in values
            if (param.min is None or v >= param.min) and (param.max is None or v <= param.max)
        ]
    return []


def _probes(entry: Entry) -> list[dict[str, Any]]:
    """For every constraint, a constructor call that breaks it (the module must raise ValueError).

    Starting from the catalog's first reference configuration, one and then two arguments are
    varied; a call that breaks only this constraint is preferred. The worker keeps the calls
    for which the reference solution does raise ValueError.
    """
    if not entry.reference or not entry.contract.constraints:
        return []
    base = _reference_env(entry, entry.reference[0].config)
    names = [n for n in base if _candidates(entry, n, base[n])]
    probes = []
    for constraint in entry.contract.constraints:
        found, fallback = None, None
        changes = [((n, v),) for n in names for v in _candidates(entry, n, base[n])]
        changes += [
            ((a, va), (b, vb))
            for a, b in itertools.combinations(names, 2)
            for va in _candidates(entry, a, base[a])
            for vb in _candidates(entry, b, base[b])
        ]
        for change in changes:
            env = {**base, **dict(change)}
            try:
                if expr.evaluate(constraint.check, env):
                    continue
                others = all(
                    expr.evaluate(c.check, env) for c in entry.contract.constraints if c is not constraint
                )
            except (expr.ExprError, ZeroDivisionError, TypeError):
                continue
            if others:
                found = env
                break
            fallback = fallback or env
        env = found or fallback
        parts = _call_parts(_build(entry, env), entry.classes) if env else None
        if parts:
            probes.append({**parts, "reason": f"{constraint.check}: {constraint.reason}"})
    return probes


def _reference_worker(request_path: str) -> None:
    """Run in a subprocess: measure every solution and save its reference tensors."""
    import torch

    torch.set_num_threads(1)
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    results = []
    for job in request["jobs"]:
        try:
            results.append(_reference_job(torch, job))
        except Exception as exc:  # reported to the parent, which names the student
            results.append({"error": f"{type(exc).__name__}: {exc}"})
    Path(request["result"]).write_text(json.dumps(results), encoding="utf-8")


def _reference_job(torch: Any, job: dict[str, Any]) -> dict[str, Any]:
    import importlib.util

    loader = importlib.util.spec_from_file_location(f"homework_solution_{job['index']}", job["path"])
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    classes = {name: getattr(module, name) for name in job["classes"]}

    # record every construction of the classes to implement while the model is built
    made: dict[int, tuple[Any, str, tuple, dict]] = {}
    own = {name: cls.__dict__.get("__init__") for name, cls in classes.items()}

    def recorder(name: str, original: Any) -> Any:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            made.setdefault(id(self), (self, name, args, kwargs))
            original(self, *args, **kwargs)

        return __init__

    for name, cls in classes.items():
        cls.__init__ = recorder(name, cls.__init__)
    try:
        torch.manual_seed(job["seed"])
        net = getattr(module, job["class_name"])()
    finally:
        for name, cls in classes.items():
            if own[name] is None:
                del cls.__init__
            else:
                cls.__init__ = own[name]
    paths: dict[int, str] = {}
    for path, sub in net.named_modules():
        paths.setdefault(id(sub), path)
    inputs: dict[int, list[list[int]]] = {}
    handles = []
    for key, (instance, *_rest) in made.items():
        if key in paths:

            def hook(_module: Any, args: tuple, key: int = key) -> None:
                inputs.setdefault(key, [list(a.shape) for a in args if isinstance(a, torch.Tensor)])

            handles.append(instance.register_forward_pre_hook(hook))
    generator = torch.Generator().manual_seed(job["seed"])
    x = torch.randn(1, job["in_channels"], job["size"], job["size"], generator=generator)
    net.eval()
    with torch.no_grad():
        out = net(x)
    for handle in handles:
        handle.remove()
    model_info = {
        "parameters": sum(p.numel() for p in net.parameters()),
        "input": list(x.shape),
        "output": list(out.shape),
    }

    # distinct literal constructions, in the model's order
    configs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path, sub in net.named_modules():
        key = id(sub)
        if key not in made or key not in inputs or not inputs[key]:
            continue
        _, name, args, kwargs = made[key]
        try:
            literal_ok = ast.literal_eval(repr(args)) == args and ast.literal_eval(repr(kwargs)) == kwargs
        except (SyntaxError, ValueError):
            literal_ok = False
        if not literal_ok:
            continue
        config = configs.setdefault(
            (name, repr(args), repr(kwargs)),
            {"class": name, "args": repr(args), "kwargs": repr(kwargs), "layers": [], "inputs": inputs[key]},
        )
        config["layers"].append(path)

    cases, tensors = [], {}
    for name in job["classes"]:
        mine = [c for c in configs.values() if c["class"] == name]
        if not mine:
            continue
        chosen = [mine[0]]
        width = sum(s[1] for s in mine[0]["inputs"])
        others = sorted(mine[1:], key=lambda c: abs(sum(s[1] for s in c["inputs"]) - width))
        if others and sum(s[1] for s in others[-1]["inputs"]) != width:
            chosen.append(others[-1])
        for config in chosen[:CASES_PER_CLASS]:
            case, saved = _reference_case(torch, classes[name], config, job, len(cases))
            cases.append(case)
            tensors[case["name"]] = saved
    if not cases:
        raise RuntimeError(
            f"{', '.join(job['classes'])}: never called with literal arguments in the model, so not testable"
        )

    parameters = []
    for call in job["parameters"]:
        try:
            instance = classes[call["class"]](
                *ast.literal_eval(call["args"]), **ast.literal_eval(call["kwargs"])
            )
        except Exception:  # a configuration this implementation does not accept is not a test
            continue
        parameters.append({**call, "count": sum(p.numel() for p in instance.parameters())})
    probes = []
    for probe in job["probes"]:
        try:
            classes[probe["class"]](*ast.literal_eval(probe["args"]), **ast.literal_eval(probe["kwargs"]))
        except ValueError:
            probes.append(probe)
        except Exception:
            continue
    torch.save(tensors, job["pt"])
    return {"cases": cases, "parameters": parameters, "probes": probes, "model": model_info}


def _reference_case(
    torch: Any, cls: Any, config: dict[str, Any], job: dict[str, Any], index: int
) -> tuple[dict, dict]:
    """Build one configuration with randomized weights; outputs at each size, and its gradients."""
    seed = job["seed"] * 1000 + index
    args, kwargs = ast.literal_eval(config["args"]), ast.literal_eval(config["kwargs"])
    torch.manual_seed(seed)
    module = cls(*args, **kwargs)
    generator = torch.Generator().manual_seed(seed)
    # weights away from their init (e.g. DySample's near-zero offsets), BN statistics set
    with torch.no_grad():
        for _, p in module.named_parameters():
            if p.is_floating_point():
                p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
        for buffer_name, b in module.named_buffers():
            if buffer_name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=generator, dtype=b.dtype))
            elif buffer_name.endswith("running_var"):
                b.copy_(0.75 + 0.5 * torch.rand(b.shape, generator=generator, dtype=b.dtype))
    state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    first = config["inputs"][0]
    sizes, ins, outs = [], [], []
    module.eval()
    for height, width in job["sizes"]:
        shapes = [
            (
                [2, s[1], max(1, round(height * s[2] / first[2])), max(1, round(width * s[3] / first[3]))]
                if len(s) == 4
                else None
            )
            for s in config["inputs"]
        ]
        if None in shapes:
            raise RuntimeError(
                f"{config['class']} takes inputs that are not (B, C, H, W): {config['inputs']}"
            )
        xs = [torch.randn(s, generator=generator) for s in shapes]
        try:
            with torch.no_grad():
                out = module(*xs)
        except Exception:  # a size this module does not accept is not tested
            continue
        if not isinstance(out, torch.Tensor) or not bool(torch.isfinite(out).all()):
            raise RuntimeError(f"{config['class']} returned no finite tensor for inputs {shapes}")
        sizes.append({"inputs": shapes, "output": list(out.shape)})
        ins.append(xs)
        outs.append(out.detach().clone())
    if not sizes:
        raise RuntimeError(f"{config['class']} accepts none of the test sizes {job['sizes']}")
    module.train()
    xs = [x.clone().requires_grad_(True) for x in ins[0]]
    out = module(*xs)
    (out * torch.randn(out.shape, generator=generator)).sum().backward()
    grads = [n for n, p in module.named_parameters() if p.grad is not None]
    input_grads = [i for i, x in enumerate(xs) if x.grad is not None]
    case = {
        "name": config["layers"][0],
        "class": config["class"],
        "args": config["args"],
        "kwargs": config["kwargs"],
        "call": _call_text(config["class"], args, kwargs),
        "layers": config["layers"],
        "inputs": config["inputs"],
        "model_size": job["size"],
        "sizes": sizes,
        "state": [[k, list(v.shape)] for k, v in state.items()],
        "parameters": sum(p.numel() for p in module.parameters()),
        "grads": grads,
        "input_grads": input_grads,
    }
    return case, {"state_dict": state, "inputs": ins, "outputs": outs}


def _call_text(name: str, args: tuple, kwargs: Mapping[str, Any]) -> str:
    words = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(words)})"


def _test_count(reference: Mapping[str, Any]) -> int:
    """The tests test_assignment.py collects (keep in step with the template)."""
    per_case = sum(3 + 2 * len(c["sizes"]) for c in reference["cases"])
    return per_case + len(reference["parameters"]) + len(reference["probes"]) + 1


# --- the student's files ---------------------------------------------------------------------


def _entry_of(variant: _Variant, class_name: str) -> Entry:
    return next(e for e in variant.entries if class_name in e.classes)


def _shape_text(shape: list[int], model_size: int) -> str:
    """(B, C, H/4, W/4) for a recorded input of a model run at ``model_size``."""
    ratio = model_size // shape[2] if len(shape) == 4 and shape[2] else 0
    if ratio and ratio * shape[2] == model_size and ratio & (ratio - 1) == 0:
        return Shape(shape[1], ratio.bit_length() - 1).text
    return f"(B, {', '.join(str(s) for s in shape[1:])})"


def _paper_lines(entry: Entry) -> list[str]:
    lines = [f"{entry.title[:1].upper()}{entry.title[1:]} ({entry.slot} module '{entry.name}')."]
    paper = entry.paper or {}
    if paper:
        link = ""
        if paper.get("doi"):
            link = f" https://doi.org/{paper['doi']}"
        elif paper.get("arxiv"):
            link = f" https://arxiv.org/abs/{paper['arxiv']}"
        lines.append(f"Paper: {paper['title']} ({entry.citation}).{link}")
    if entry.code:
        lines.append(
            f"Official code: {entry.code}" + (f" (licence: {entry.license})" if entry.license else "")
        )
    return lines


def _contract_lines(entry: Entry, forward_args: list[str], variant: _Variant, class_name: str) -> list[str]:
    contract = entry.contract
    scale = _SCALES.get(contract.scale, f"H*{contract.scale}, W*{contract.scale}")
    names = forward_args or ["x"]
    ins = [f"{names[0]} (B, in_channels, H, W)"]
    if len(names) > 1:
        ins.append(f"{names[1]} (B, skip_channels, H, W)")
    lines = [
        f"forward({', '.join(names)}): {', '.join(ins)} -> (B, {contract.channels}, {scale}), layout {contract.layout}.",
        f"The model builds it as {entry.build} (channel arguments first).",
    ]
    if contract.align == "equal":
        lines.append("Both inputs have the same number of channels.")
    if contract.constraints:
        lines.append("Constraints (check them in __init__, raise ValueError naming the numbers):")
        lines += [f"    {c.check}: {c.reason}" for c in contract.constraints]
    if entry.params:
        lines.append("Hyper-parameters (keyword arguments with the paper's defaults):")
        lines += [f"    {p.name}: {p.type} = {p.default!r}: {p.help}" for p in entry.params.values()]
    counts = [p for p in variant.reference["parameters"] if p["class"] == class_name]
    for p in counts:
        lines.append(f"Parameters: {p['count']:,} at {p['call']}.")
    lines.append("Use torch only; create new tensors on the input's device and dtype.")
    return lines


def _stub_class(node: ast.ClassDef, variant: _Variant) -> str:
    """The TODO version of one class: name, bases, signatures and a docstring stating the contract."""
    entry = _entry_of(variant, node.name)
    bases = [ast.unparse(b) for b in node.bases] + [ast.unparse(k) for k in node.keywords]
    original = ast.get_docstring(node) or ""
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    forward = methods.get("forward")
    forward_args = [a.arg for a in forward.args.args[1:]] if forward else []
    cases = [c for c in variant.reference["cases"] if c["class"] == node.name]

    doc = [original.splitlines()[0] if original else f"{entry.title}.", ""]
    doc.append("TODO: implement this class (__init__ and forward) from the paper.")
    doc.append("")
    doc += _paper_lines(entry)
    if node.name == entry.build.split("(", 1)[0]:
        doc += ["", "Contract:"]
        doc += [f"    {line}" for line in _contract_lines(entry, forward_args, variant, node.name)]
    if cases:
        doc += ["", "In this model:"]
        for case in cases:
            shapes = ", ".join(_shape_text(s, case["model_size"]) for s in case["inputs"])
            doc.append(f"    {case['call']}: input {shapes}, at {', '.join(case['layers'])}")
        first = cases[0]
        doc += [
            "",
            (
                f"state_dict of {first['call']}: the tests load the reference weights into your "
                "module, so use exactly these names and shapes:"
            ),
        ]
        doc += [f"    {key}: {tuple(shape)}" for key, shape in first["state"]] or [
            "    (empty: no parameters or buffers)"
        ]
    text = "\n".join([doc[0], *(_wrap(line) for line in doc[1:])])
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')

    lines = [f"class {node.name}({', '.join(bases)}):" if bases else f"class {node.name}:"]
    lines.append(textwrap.indent(f'"""{text}\n"""', "    "))
    for method in ("__init__", "forward"):
        if method not in methods:
            continue
        signature = copy.deepcopy(methods[method])
        signature.body, signature.decorator_list = [ast.Pass()], []
        lines.append("")
        lines.append(textwrap.indent(ast.unparse(signature).rsplit("\n", 1)[0], "    "))
        if method == "__init__":
            message = f"TODO: write {node.name}.__init__ in model.py: build the layers (see the class docstring for the state_dict names)"
        else:
            message = (
                f"TODO: write {node.name}.forward in model.py (see the class docstring for the contract)"
            )
        lines.append(f"        raise NotImplementedError({message!r})")
    return "\n".join(lines) + "\n"


def _wrap(line: str, width: int = 84) -> str:
    """Wrap a docstring line; indented lines (list items) hang by four more spaces.

    Short parenthesised groups (shapes, constructor calls) are never split.
    """
    if len(line) <= width:
        return line
    body = line.lstrip()
    indent = line[: len(line) - len(body)]
    glued = re.sub(r"\([^()]{0,80}\)", lambda m: m.group(0).replace(" ", "\0"), body)
    wrapped = textwrap.fill(
        glued,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + ("    " if indent else ""),
        break_on_hyphens=False,
        break_long_words=False,
    )
    return wrapped.replace("\0", " ")


def _student_source(source: str, variant: _Variant, spec: HomeworkSpec) -> str:
    """The solution's model.py with the classes to implement replaced by TODO stubs.

    Helper classes and functions only those classes used are removed with them, and so
    are imports nothing uses any more; the module docstring says what to do instead of
    how to regenerate the solution.
    """
    from .render import format_code

    tree = ast.parse(source)
    top = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    stubbed = [top[name] for name in variant.classes if name in top]
    # helpers the stubbed classes use, transitively: candidates for removal
    helpers: set[str] = set()
    todo = [n for n in stubbed]
    while todo:
        node = todo.pop()
        for name in {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}:
            if name in top and name not in helpers and name not in variant.classes:
                helpers.add(name)
                todo.append(top[name])
    lines = source.splitlines(keepends=True)
    for node in sorted(stubbed, key=lambda n: n.lineno, reverse=True):
        start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        lines[start : node.end_lineno] = [_stub_class(node, variant)]
    text = "".join(lines)
    text = _remove_unused(text, helpers)
    text = _student_docstring(text, variant, spec)
    text = _prune_imports(text)
    return format_code(text)


def _remove_unused(text: str, candidates: set[str]) -> str:
    """Drop top-level definitions in ``candidates`` that nothing else refers to, until none is left."""
    while True:
        tree = ast.parse(text)
        defs = [
            n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name in candidates
        ]
        dead = None
        for node in defs:
            used = any(
                isinstance(n, ast.Name) and n.id == node.name
                for other in tree.body
                if other is not node
                for n in ast.walk(other)
            )
            if not used:
                dead = node
                break
        if dead is None:
            return text
        lines = text.splitlines(keepends=True)
        start = min([dead.lineno] + [d.lineno for d in dead.decorator_list]) - 1
        del lines[start : dead.end_lineno]
        text = "".join(lines)


def _prune_imports(text: str) -> str:
    """Remove imported names nothing refers to (ruff F401 clean)."""
    tree = ast.parse(text)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    lines = text.splitlines(keepends=True)
    for node in reversed(tree.body):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        keep = [a for a in node.names if (a.asname or a.name.split(".")[0]) in used]
        if len(keep) == len(node.names):
            continue
        replacement = []
        if keep:
            clone = copy.copy(node)
            clone.names = keep
            replacement = [ast.unparse(clone) + "\n"]
        lines[node.lineno - 1 : node.end_lineno] = replacement
    return "".join(lines)


def _student_docstring(text: str, variant: _Variant, spec: HomeworkSpec) -> str:
    """Replace 'Regenerate with: ...' in the module docstring by the assignment."""
    tree = ast.parse(text)
    first = tree.body[0] if tree.body else None
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return text
    doc = first.value.value.splitlines()
    start = next((i for i, line in enumerate(doc) if line.startswith("Generated by plugscaffold")), None)
    if start is not None:
        end = start + 1
        while end < len(doc) and (not doc[end].strip() or doc[end].startswith("    ")):
            end += 1
        del doc[start:end]
    todo = ", ".join(variant.classes)
    who = variant.student.id + (f" ({', '.join(variant.student.members)})" if variant.student.members else "")
    assignment = [
        f"Assignment for {who} ({spec.title}).",
        _wrap(f"Implement the classes marked TODO below: {todo}. The class docstrings state the contract."),
        f"Check your work in this folder with: python -m pytest -q {TEST_FILE}",
        "",
    ]
    doc[1:1] = ["", *assignment]
    body = "\n".join(doc).rstrip("\n").replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = text.splitlines(keepends=True)
    lines[first.lineno - 1 : first.end_lineno] = [f'"""{_collapse_blank(body)}\n"""\n']
    return "".join(lines)


def _collapse_blank(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text)


def _render_tests(variant: _Variant, spec: HomeworkSpec) -> str:
    from .render import environment, format_code

    ref = variant.reference
    cases = {
        c["name"]: (c["class"], ast.literal_eval(c["args"]), ast.literal_eval(c["kwargs"]))
        for c in ref["cases"]
    }
    shapes, shape_ids = [], []
    for c in ref["cases"]:
        for k, size in enumerate(c["sizes"]):
            shapes.append((c["name"], k, [tuple(s) for s in size["inputs"]], tuple(size["output"])))
            height, width = size["inputs"][0][2:]
            shape_ids.append(f"{c['name']}-{height}x{width}")
    contracts = {}
    for name in variant.classes:
        entry = _entry_of(variant, name)
        scale = _SCALES.get(entry.contract.scale, f"scale {entry.contract.scale}")
        contracts[name] = f"output (B, {entry.contract.channels}, {scale}) for input (B, in_channels, H, W)"
    parameters = []
    for p in ref["parameters"]:
        where = (
            "the catalog's figure, measured on the official code"
            if p["count"] == p["catalog"]
            else "the reference solution"
        )
        parameters.append(
            (p["class"], ast.literal_eval(p["args"]), ast.literal_eval(p["kwargs"]), p["count"], where)
        )
    invalid = [
        (p["class"], ast.literal_eval(p["args"]), ast.literal_eval(p["kwargs"]), p["reason"])
        for p in ref["probes"]
    ]
    model = ref["model"]
    data = {
        "title": spec.title,
        "student": variant.student.id,
        "classes": variant.classes,
        "cases": repr(cases),
        "shapes": repr(shapes),
        "shape_ids": repr(shape_ids),
        "contracts": repr(contracts),
        "gradients": repr({c["name"]: (c["grads"], c["input_grads"]) for c in ref["cases"]}),
        "parameters": repr(parameters) if parameters else "",
        "parameter_ids": repr([_call_text(p[0], p[1], p[2]) for p in parameters]),
        "invalid": repr(invalid) if invalid else "",
        "invalid_ids": repr([_call_text(p[0], p[1], p[2]) for p in invalid]),
        "model": repr(
            {
                "class": variant.generated.plan.class_name,
                "input": tuple(model["input"]),
                "output": tuple(model["output"]),
                "parameters": model["parameters"],
            }
        ),
    }
    text = environment().get_template("homework/test_assignment.py.jinja").render(**data)
    return format_code(text)


def _render_readme(variant: _Variant, spec: HomeworkSpec) -> str:
    from .render import environment

    tasks = []
    for name in variant.classes:
        entry = _entry_of(variant, name)
        cases = [c for c in variant.reference["cases"] if c["class"] == name]
        tasks.append(
            {
                "name": name,
                "paper": _paper_lines(entry),
                "calls": [(c["call"], ", ".join(c["layers"])) for c in cases],
            }
        )
    return (
        environment()
        .get_template("homework/README.md.jinja")
        .render(
            title=spec.title,
            student=variant.student,
            summary=variant.generated.plan.summary,
            tasks=tasks,
            tests=_test_count(variant.reference),
            test_file=TEST_FILE,
            reference_file=REFERENCE_FILE,
        )
    )


# --- grading -------------------------------------------------------------------------------


def grade(
    assignment_dir: str | Path,
    submissions_dir: str | Path,
    csv_path: str | Path,
    *,
    timeout: float = GRADE_TIMEOUT,
    jobs: int | None = None,
) -> list[dict[str, Any]]:
    """Run every student's tests against ``submissions_dir/<id>/model.py``; write and return the rows.

    Each submission runs in a fresh folder with the assignment's own copies of the tests and
    reference.pt (edited copies in a submission are ignored), in a pytest subprocess stopped
    after ``timeout`` seconds. Scores count every test of the assignment, so a submission
    that crashes pytest scores 0; a missing submission gets a row with score 0 and a note.
    Grading runs the submitted code: run it where that is safe.
    """
    root = Path(assignment_dir)
    data = read_manifest(root)
    submissions = Path(submissions_dir)
    if not submissions.is_dir():
        raise HomeworkError(
            f"submissions folder {submissions} does not exist; it should hold one folder per student id"
        )
    if timeout <= 0:
        raise HomeworkError("the grading timeout must be a positive number of seconds")
    students = data["students"]
    workers = max(1, jobs or min(4, os.cpu_count() or 1))

    def one(student: Mapping[str, Any]) -> dict[str, Any]:
        return _grade_one(root, submissions, student, timeout)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(one, students))
    _write_csv(Path(csv_path), rows)
    return rows


def _row(student: str, passed: int, total: int, first_failure: str) -> dict[str, Any]:
    passed = min(passed, total)
    score = round(100.0 * passed / total, 1) if total else 0.0
    return {
        "student": student,
        "passed": passed,
        "failed": total - passed,
        "score": score,
        "first_failure": first_failure,
    }


def _grade_one(root: Path, submissions: Path, student: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    sid, total = str(student["id"]), int(student["tests"])
    folder = submissions / sid
    model = folder / "model.py"
    if not model.is_file():
        where = f"{folder} has no model.py" if folder.is_dir() else f"no folder {folder}"
        return _row(sid, 0, total, f"missing submission: {where}")
    assignment = root / "students" / sid
    with tempfile.TemporaryDirectory(prefix="plugscaffold-grade-") as tmp:
        work = Path(tmp)
        shutil.copyfile(model, work / "model.py")
        for name in (TEST_FILE, REFERENCE_FILE):
            try:
                shutil.copyfile(assignment / name, work / name)
            except OSError:
                raise HomeworkError(f"{assignment / name} is missing; regenerate the assignment") from None
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        report = work / "junit.xml"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        command = [
            sys.executable, "-m", "pytest", "-q", "--tb=line", "-p", "no:cacheprovider",
            f"--junitxml={report}", TEST_FILE,
        ]  # fmt: skip
        try:
            proc = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return _row(sid, 0, total, f"timed out after {timeout:g} s")
        passed, first = _read_junit(report)
        first = first.replace(f"{work}{os.sep}", "")  # tracebacks name the grading folder
        if passed is None:
            last = (proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or ["no output"])[-1]
            return _row(sid, 0, total, _one_line(f"pytest crashed (exit {proc.returncode}): {last}"))
        if passed < total and not first:
            first = f"only {passed} of {total} tests passed (pytest exit {proc.returncode})"
        return _row(sid, passed, total, first)


def _read_junit(path: Path) -> tuple[int | None, str]:
    """Passed tests and the first failure ('test: message') from a JUnit XML report."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return None, ""
    passed, first = 0, ""
    for case in root.iter("testcase"):
        problems = [c for c in case if c.tag in ("failure", "error", "skipped")]
        if not problems:
            passed += 1
        elif not first:
            problem = problems[0]
            message = problem.get("message") or (problem.text or "").strip() or problem.tag
            first = _one_line(f"{case.get('name')}: {message}")
    return passed, first


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "score": f"{row['score']:g}"})
    os.replace(tmp, path)


def format_grades(rows: list[dict[str, Any]], csv_path: str | Path | None = None) -> str:
    """A table of the rows for the terminal."""
    table = [("student", "passed", "failed", "score", "first failure")]
    table += [
        (r["student"], str(r["passed"]), str(r["failed"]), f"{r['score']:g}", r["first_failure"])
        for r in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}  {r[4]}".rstrip()
        for r in table
    ]
    if csv_path is not None:
        lines += ["", f"Grades       {csv_path}"]
    return "\n".join(lines)
