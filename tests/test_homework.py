"""Homework assignments: per-student variants (make_homework) and grading (grade)."""

from __future__ import annotations

import ast
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import black
import pytest
import yaml

from plugscaffold.errors import SpecError, TargetError
from plugscaffold.homework import (
    HomeworkError,
    HomeworkSpec,
    draw,
    grade,
    make_homework,
    parse_spec,
    read_manifest,
)

REPO = Path(__file__).resolve().parent.parent
SPEC = {
    "title": "Test homework",
    "seed": 11,
    "model": {"width": 16, "depth": 2},
    "pool": {"attn": ["se", "cbam"], "up": ["dysample", "bilinear"]},
    "implement": ["attn", "up"],
    "students": ["alice", "bob", "carol"],
}
IDS = SPEC["students"]


def write_spec(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("spec") / "hw.yaml", SPEC)


@pytest.fixture(scope="module")
def assignment(spec_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("assignment") / "hw"
    files = make_homework(spec_file, out)
    return out, files, read_manifest(out)


def classes_of(manifest: dict, sid: str) -> list[str]:
    student = next(s for s in manifest["students"] if s["id"] == sid)
    return [c for task in student["implement"] for c in task["classes"]]


def top_level(source: str) -> dict[str, ast.AST]:
    return {n.name: n for n in ast.parse(source).body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}


def method(node: ast.ClassDef, name: str) -> ast.FunctionDef:
    return next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == name)


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


# --- generation ----------------------------------------------------------------------------


@pytest.mark.slow
def test_three_students_get_distinct_variants_and_the_same_spec_gives_the_same_files(
    assignment, spec_file, tmp_path
):
    out, files, manifest = assignment
    assert [s["id"] for s in manifest["students"]] == IDS
    tasks = {tuple((t["slot"], t["module"]) for t in s["implement"]) for s in manifest["students"]}
    assert len(tasks) == 3, tasks  # the pool allows four different (attn, up) pairs
    for sid in IDS:
        assert {p.name for p in (out / "students" / sid).iterdir()} == {
            "model.py", "test_assignment.py", "reference.pt", "README.md",
        }  # fmt: skip
        assert {"model.py", ".plugscaffold.yml", "test_assignment.py", "reference.pt"} <= {
            p.name for p in (out / "solutions" / sid).iterdir()
        }
    assert len({(out / "solutions" / sid / "model.py").read_text() for sid in IDS}) == 3
    assert len({(out / "students" / sid / "model.py").read_text() for sid in IDS}) == 3

    again = tmp_path / "again"
    files_again = make_homework(spec_file, again)
    assert [p.relative_to(again) for p in files_again] == [p.relative_to(out) for p in files]
    for path in files:
        assert (again / path.relative_to(out)).read_bytes() == path.read_bytes(), path.relative_to(out)


@pytest.mark.slow
def test_student_model_keeps_each_signature_states_the_contract_and_raises_todo(assignment, catalog):
    out, _, manifest = assignment
    for student in manifest["students"]:
        sid = student["id"]
        solution = top_level((out / "solutions" / sid / "model.py").read_text())
        stub = top_level((out / "students" / sid / "model.py").read_text())
        for task in student["implement"]:
            entry = catalog.lookup(task["slot"], task["module"])
            for name in task["classes"]:
                ours, theirs = stub[name], solution[name]
                assert [ast.unparse(b) for b in ours.bases] == [ast.unparse(b) for b in theirs.bases]
                for meth in ("__init__", "forward"):
                    assert ast.unparse(method(ours, meth).args) == ast.unparse(method(theirs, meth).args)
                    body = method(ours, meth).body
                    assert len(body) == 1 and isinstance(body[0], ast.Raise), ast.unparse(method(ours, meth))
                    assert "NotImplementedError('TODO: write" in ast.unparse(body[0])
                doc = ast.get_docstring(ours)
                assert doc.splitlines()[0] == ast.get_docstring(theirs).splitlines()[0]
                assert "TODO" in doc and entry.title[1:] in " ".join(doc.split())
                if entry.paper:  # the citation and a link
                    assert entry.citation in " ".join(doc.split())
                    assert (entry.paper.get("arxiv") or entry.paper.get("doi")) in doc
                assert f"(B, {entry.contract.channels}, " in doc  # the channel rule
                for constraint in entry.contract.constraints:
                    assert constraint.check in " ".join(doc.split())
                assert "state_dict of " in doc


@pytest.mark.slow
def test_student_folder_holds_no_solution_code(assignment):
    out, _, manifest = assignment
    everything = "\n".join(
        p.read_bytes().decode("utf-8", "ignore") for p in (out / "students").rglob("*") if p.is_file()
    )
    for sid in IDS:
        solution_source = (out / "solutions" / sid / "model.py").read_text()
        solution = top_level(solution_source)
        student = top_level((out / "students" / sid / "model.py").read_text())
        hidden = [solution[name] for name in classes_of(manifest, sid)]
        hidden += [node for name, node in solution.items() if name not in student]  # their helpers
        if "CBAM" in classes_of(manifest, sid):  # its helper classes go with it
            assert "CBAMChannelGate" not in student and "CBAMSpatialGate" not in student
        kept = "\n".join(
            ast.get_source_segment(solution_source, n) for k, n in solution.items() if n not in hidden
        )
        for node in hidden:
            for fn in (n for n in ast.walk(node) if isinstance(n, ast.FunctionDef)):
                statements = fn.body[1:] if ast.get_docstring(fn) else fn.body
                body = "\n".join(ast.get_source_segment(solution_source, s, padded=True) for s in statements)
                assert body not in everything, f"{sid}: {node.name}.{fn.name} is in students/"
                for line in (line.strip() for line in body.splitlines()):
                    if len(line) >= 30 and line not in kept:
                        assert (
                            line not in everything
                        ), f"{sid}: '{line}' of {node.name}.{fn.name} is in students/"


@pytest.mark.slow
def test_generated_python_is_black_and_pyflakes_clean(assignment):
    out, _, _ = assignment
    sources = sorted(out.rglob("*.py"))
    assert len(sources) == 4 * len(IDS)
    for path in sources:
        text = path.read_text()
        assert black.format_str(text, mode=black.Mode()) == text, path
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F", "--no-cache", *map(str, sources)],
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


@pytest.mark.slow
def test_student_tests_ship_tensors_only_and_load_with_weights_only(assignment):
    out, _, manifest = assignment
    for sid in IDS:
        tests = (out / "students" / sid / "test_assignment.py").read_text()
        assert 'torch.load(HERE / "reference.pt", weights_only=True)' in tests
        assert (out / "students" / sid / "reference.pt").read_bytes() == (
            out / "solutions" / sid / "reference.pt"
        ).read_bytes()
        readme = (out / "students" / sid / "README.md").read_text()
        assert all(f"`{name}`" in readme for name in classes_of(manifest, sid))


# --- grading -------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_solution_passes_its_student_tests(assignment, tmp_path):
    out, _, manifest = assignment
    submissions = tmp_path / "submissions"
    for sid in IDS:  # a submission folder: the student folder with the solution's model.py
        shutil.copytree(out / "students" / sid, submissions / sid)
        shutil.copyfile(out / "solutions" / sid / "model.py", submissions / sid / "model.py")
    rows = grade(out, submissions, tmp_path / "grades.csv")
    table = read_csv(tmp_path / "grades.csv")
    for student, row in zip(manifest["students"], rows):
        assert row == {
            "student": student["id"],
            "passed": student["tests"],
            "failed": 0,
            "score": 100.0,
            "first_failure": "",
        }
        assert table[student["id"]]["score"] == "100"


@pytest.mark.slow
def test_untouched_and_missing_submissions_score_zero(assignment, tmp_path):
    out, _, manifest = assignment
    submissions = tmp_path / "submissions"
    shutil.copytree(out / "students" / "carol", submissions / "carol")  # handed in unchanged
    (submissions / "bob").mkdir()  # a folder without model.py; alice handed in nothing
    grade(out, submissions, tmp_path / "grades.csv")
    table = read_csv(tmp_path / "grades.csv")
    assert list(table) == IDS
    tests = {s["id"]: s["tests"] for s in manifest["students"]}
    carol = table["carol"]
    assert (carol["passed"], carol["failed"], carol["score"]) == ("0", str(tests["carol"]), "0")
    assert "NotImplementedError: TODO: write" in carol["first_failure"]
    assert carol["first_failure"].startswith("test_constructs[")
    for sid, note in (("alice", "no folder"), ("bob", "has no model.py")):
        assert table[sid]["score"] == "0" and table[sid]["passed"] == "0"
        assert (
            table[sid]["first_failure"].startswith("missing submission:")
            and note in table[sid]["first_failure"]
        )


@pytest.mark.slow
def test_grade_needs_an_assignment_and_a_submissions_folder(assignment, tmp_path):
    out, _, _ = assignment
    with pytest.raises(HomeworkError, match="has no homework.yml"):
        grade(tmp_path, tmp_path, tmp_path / "g.csv")
    with pytest.raises(HomeworkError, match="does not exist"):
        grade(out, tmp_path / "nowhere", tmp_path / "g.csv")


@pytest.mark.slow
def test_an_existing_assignment_folder_is_kept_unless_forced(assignment, spec_file):
    out, _, _ = assignment
    with pytest.raises(TargetError, match="--force"):
        make_homework(spec_file, out)


# --- the spec and the draw (no torch) --------------------------------------------------------


def spec(catalog, **changes) -> HomeworkSpec:
    data = {**SPEC, **changes}
    return parse_spec({k: v for k, v in data.items() if v is not None}, catalog)


def test_the_draw_is_reproducible_spreads_the_modules_and_keeps_earlier_students(catalog):
    many = [f"s{i}" for i in range(8)]
    first = draw(spec(catalog, students=many))
    assert first == draw(spec(catalog, students=many))
    assert len({tuple(sorted(c.items())) for c in first[:4]}) == 4  # four combinations, all used
    assert sorted(c["attn"] for c in first) == ["cbam"] * 4 + ["se"] * 4
    assert draw(spec(catalog, students=many + ["late"]))[:8] == first
    assert draw(spec(catalog, students=many, seed=12)) != first


def test_groups_hand_in_one_submission(catalog):
    groups = spec(catalog, students=None, groups={"team-1": ["ann", "ben"], "team-2": "cat"})
    assert [(s.id, s.members) for s in groups.students] == [("team-1", ("ann", "ben")), ("team-2", ("cat",))]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"seed": None}, "'seed' must be an integer"),
        ({"pools": {}}, "unknown key 'pools' \\(did you mean 'pool'\\?\\)"),
        (
            {"implement": ["attn", "down"], "pool": {"attn": ["se"], "down": ["maxpool"]}},
            "nothing to implement",
        ),
        ({"implement": ["up"], "model": {"width": 16}, "pool": {"attn": ["se"]}}, "nothing to implement"),
        ({"pool": {"attn": ["se", "sqeeze"], "up": ["dysample"]}}, "unknown attn module 'sqeeze'"),
        ({"model": {"width": 16, "up": "bilinear"}}, "both fixed in 'model' and drawn from 'pool'"),
        ({"students": ["alice", "../bob"]}, "names a folder"),
        ({"students": ["alice", "Alice"]}, "name the same folder"),
        ({"groups": {"g": ["x"]}}, "either 'students'"),
        ({"check": {"size": "big"}}, "check.size 'big' is not a size"),
    ],
)
def test_spec_errors_are_one_line(catalog, changes, message):
    with pytest.raises(SpecError, match=message) as info:
        spec(catalog, **changes)
    assert "\n" not in str(info.value)


def test_the_example_spec_is_valid(catalog):
    example = parse_spec(yaml.safe_load((REPO / "examples" / "homework.yaml").read_text()), catalog)
    assert example.implement and len(example.students) >= 2


# --- the command line ------------------------------------------------------------------------


def test_homework_and_grade_commands(run_cli, tmp_path):
    """`plugscaffold homework SPEC --out DIR` then `plugscaffold grade DIR SUBMISSIONS --csv`."""
    spec = write_spec(tmp_path / "hw.yaml", {**SPEC, "implement": ["attn"], "students": ["ann", "ben"]})
    made = run_cli("homework", str(spec), "--out", "hw")
    assert made.code == 0, made.err
    assert "ann" in made.out and "ben" in made.out and (tmp_path / "hw" / "homework.yml").is_file()
    again = run_cli("homework", str(spec), "--out", "hw")
    assert again.code == 1 and len(again.err.strip().splitlines()) == 1 and "--force" in again.err

    submissions = tmp_path / "subs"
    shutil.copytree(tmp_path / "hw" / "solutions" / "ann", submissions / "ann")
    shutil.copytree(tmp_path / "hw" / "students" / "ben", submissions / "ben")
    graded = run_cli("grade", "hw", "subs", "--csv", "grades.csv")
    assert graded.code == 0, graded.err
    rows = read_csv(tmp_path / "grades.csv")
    assert rows["ann"]["failed"] == "0" and float(rows["ann"]["score"]) == 100
    assert rows["ben"]["passed"] == "0" and "TODO" in rows["ben"]["first_failure"]


def test_homework_command_errors_are_one_line(run_cli, tmp_path):
    missing = run_cli("homework", "nowhere.yaml", "--out", "hw")
    assert missing.code == 1 and len(missing.err.strip().splitlines()) == 1 and "nowhere.yaml" in missing.err
    assert not (tmp_path / "hw").exists()
    bad = run_cli("grade", "hw", "subs", "--jobs", "0")
    assert bad.code == 1 and len(bad.err.strip().splitlines()) == 1
