"""Generate an assignment: every student's variant, the survey of the solutions, the manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..catalog import Catalog, Entry, load_catalog
from ..errors import PlugscaffoldError, TargetError
from ..options import Output
from . import probes
from .draw import draw
from .records import ManifestEntry, Reference, Task
from .spec import HomeworkError, HomeworkSpec, Student, load_spec

MANIFEST = "homework.yml"
TEST_FILE = "test_assignment.py"
SELF_CHECK_FILE = "self_check.pt"
#: Input sizes (H, W) of the public self-check: a square one and a non-square one.
SELF_CHECK_SIZES = ((8, 8), (6, 10))
SURVEY_WORKER = Path(__file__).resolve().with_name("_survey_worker.py")


@dataclass
class Variant:
    """One student's assignment while it is being built."""

    student: Student
    choices: dict[str, str]
    generated: Any  # pipeline.Generated
    entries: list[Entry]  # the catalog entries the student implements
    classes: list[str]  # their classes, in the order of model.py
    reference: Reference | None = None  # what the survey measured

    def manifest_entry(self) -> ManifestEntry:
        assert self.reference is not None
        tasks = [Task(e.slot, e.name, [c for c in self.classes if c in e.classes]) for e in self.entries]
        return ManifestEntry(
            self.student.id, list(self.student.members), dict(self.choices), tasks, self.reference
        )

    def entry_of(self, class_name: str) -> Entry:
        return next(e for e in self.entries if class_name in e.classes)


def model_facts(plan: Any) -> dict[str, Any]:
    """The architecture-specific facts the homework needs: the one place that reads them from the Plan.

    The model class (built with no arguments), its input channels, and a side that runs every
    stage (twice the divisor the model pads to).
    """
    return {"class_name": plan.class_name, "in_channels": plan.input.channels, "size": 2 * plan.divisor}


def make_homework(
    spec_path: str | Path, out_dir: str | Path, catalog: Catalog | None = None, *, force: bool = False
) -> list[Path]:
    """Generate the assignment for every student of ``spec_path`` into ``out_dir``; return the files.

    Nothing is written unless every variant generates and its solution passes the survey.
    An existing, non-empty ``out_dir`` is refused unless ``force``, which replaces
    ``students/``, ``solutions/`` and ``homework.yml`` and keeps any other file.
    """
    from ..files import staging
    from .student import write_variant

    catalog = catalog or load_catalog()
    spec = load_spec(spec_path, catalog)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TargetError(f"{out} exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise TargetError(f"{out} already exists and is not empty; pass --force to regenerate the assignment")
    if not out.resolve().parent.is_dir():
        raise TargetError(f"the parent of {out} does not exist; create it first")
    variants = [
        _variant(spec, catalog, student, choices) for student, choices in zip(spec.students, draw(spec))
    ]
    with staging(out.resolve().parent) as scratch:
        stage = scratch / "assignment"
        stage.mkdir()
        for variant in variants:
            for part in ("solutions", "students"):
                (stage / part / variant.student.id).mkdir(parents=True)
            (stage / "solutions" / variant.student.id / "model.py").write_text(
                variant.generated.source, encoding="utf-8"
            )
        _survey(scratch, stage, variants, spec)
        for variant in variants:
            write_variant(stage, variant, spec, catalog)
        (stage / MANIFEST).write_text(manifest_text(variants, spec, catalog), encoding="utf-8")
        relatives = sorted(p.relative_to(stage) for p in stage.rglob("*") if p.is_file())
        _commit(stage, out)
    return [out / relative for relative in relatives]


def _variant(spec: HomeworkSpec, catalog: Catalog, student: Student, choices: dict[str, str]) -> Variant:
    from ..pipeline import generate

    label = ", ".join(f"{k}={v}" for k, v in choices.items())
    try:
        gen = generate(
            spec.name,
            {**spec.model, **choices},
            output=Output.RENDER,
            check=spec.check,
            smoke=spec.smoke,
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
    return Variant(student, choices, gen, entries, [c for c in gen.plan.class_names if c in wanted])


def _commit(stage: Path, out: Path) -> None:
    """Move the staged assignment into ``out``: one rename if it is new, else its three parts,
    all or none (:func:`plugscaffold.files.replace_parts`)."""
    from ..files import replace_parts

    if not out.exists():
        os.rename(stage, out)
        return
    replace_parts(stage, out, [MANIFEST, "students", "solutions"])


# --- the survey: one torch subprocess for all solutions ----------------------------------------


def _survey(scratch: Path, stage: Path, variants: list[Variant], spec: HomeworkSpec) -> None:
    jobs = []
    for index, variant in enumerate(variants):
        sid = variant.student.id
        jobs.append(
            {
                "index": index,
                "path": str(stage / "solutions" / sid / "model.py"),
                "self_check": str(stage / "students" / sid / SELF_CHECK_FILE),
                **model_facts(variant.generated.plan),
                "classes": variant.classes,
                "seed": spec.seed,
                "sizes": [list(s) for s in SELF_CHECK_SIZES],
                "counts": [c.to_json() for e in variant.entries for c in probes.reference_calls(e)],
                "probes": [p.to_json() for e in variant.entries for p in probes.probes(e)],
            }
        )
    request, result = scratch / "survey-request.json", scratch / "survey-result.json"
    request.write_text(json.dumps({"jobs": jobs, "result": str(result)}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["OMP_NUM_THREADS"] = "1"
    try:
        proc = subprocess.run(
            [sys.executable, "-I", str(SURVEY_WORKER), str(request)],
            capture_output=True, text=True, timeout=spec.check.timeout, env=env, cwd=scratch,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise HomeworkError(f"surveying the solutions timed out after {spec.check.timeout:g} s") from None
    if proc.returncode != 0 or not result.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise HomeworkError(f"surveying the solutions crashed (exit {proc.returncode}): {last}")
    for variant, outcome in zip(variants, json.loads(result.read_text(encoding="utf-8"))):
        if "error" in outcome:
            raise HomeworkError(
                f"student '{variant.student.id}': the solution failed the survey: {outcome['error']}"
            )
        variant.reference = Reference.from_json(outcome)


# --- the manifest ----------------------------------------------------------------------------


def manifest_text(variants: list[Variant], spec: HomeworkSpec, catalog: Catalog) -> str:
    import yaml

    data = {
        "title": spec.title,
        "spec": spec.source,
        "seed": spec.seed,
        "plugscaffold_version": __version__,
        "catalog_version": catalog.version,
        "points": dict(spec.points),
        "students": [v.manifest_entry().to_json() for v in variants],
    }
    header = "# plugscaffold homework: who got what. 'plugscaffold grade' reads this file; keep it private.\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)


@dataclass(frozen=True)
class Manifest:
    title: str
    points: dict[str, float]
    students: list[ManifestEntry]

    def entry(self, sid: str) -> ManifestEntry:
        return next(s for s in self.students if s.id == sid)


def read_manifest(assignment_dir: str | Path) -> Manifest:
    from ..yamlfile import read_yaml  # size, depth and alias limits, as for every YAML read
    from .records import DEFAULT_POINTS

    path = Path(assignment_dir) / MANIFEST
    if not path.is_file():
        raise HomeworkError(
            f"{assignment_dir} has no {MANIFEST}; pass the --out folder of 'plugscaffold homework'"
        )
    data = read_yaml(path, error=HomeworkError, fix="regenerate the assignment", max_bytes=50_000_000)
    try:
        return Manifest(
            str(data.get("title") or "Homework"),
            {**DEFAULT_POINTS, **(data.get("points") or {})},
            [ManifestEntry.from_json(s) for s in data["students"]],
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise HomeworkError(
            f"{path} is not a homework manifest ({exc!r}); regenerate the assignment"
        ) from None


def format_assignments(assignment_dir: str | Path) -> str:
    """One line per student: the drawn choices, the classes to implement, the checks and points."""
    from ..report import table
    from .checks import checks_for

    manifest = read_manifest(assignment_dir)
    rows = [["student", "choices", "implements", "checks", "points"]]
    for s in manifest.students:
        checks = checks_for(s, manifest.points)
        rows.append(
            [
                s.id,
                ", ".join(f"{k} {v}" for k, v in s.choices.items()) or "-",
                ", ".join(f"{c} ({t.slot} {t.module})" for t in s.implement for c in t.classes),
                str(len(checks)),
                f"{sum(c.points for c in checks):g}",
            ]
        )
    root = Path(assignment_dir)
    return "\n".join(
        [
            *table(rows, indent=""),
            "",
            f"Students     {root / 'students'}/<id>/: model.py with TODO stubs, "
            f"{TEST_FILE}, {SELF_CHECK_FILE}, README.md",
            f"Solutions    {root / 'solutions'}/<id>/ and {root / MANIFEST}: keep them private",
            f"Grade        plugscaffold grade {root} SUBMISSIONS/ --csv grades.csv  "
            "(SUBMISSIONS/<id>/model.py)",
        ]
    )
