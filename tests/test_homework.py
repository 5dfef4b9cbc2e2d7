"""Homework: per-student variants (make_homework), fair grading (grade) and the Gradescope autograder.

One small class (ann and ben draw SE, cat draws CBAM) is generated once; each grading run
grades three submissions at once, so every scenario of issue 17 costs one worker start.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import black
import jsonschema
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
from plugscaffold.homework.checks import checks_for
from plugscaffold.homework.runner import Limits, process_groups_alive
from plugscaffold.homework.similarity import ratio, tokens

REPO = Path(__file__).resolve().parent.parent
SPEC = {
    "title": "Test homework",
    "seed": 11,
    "model": {"width": 16, "depth": 2},
    "pool": {"attn": ["se", "cbam"]},
    "implement": ["attn"],
    "students": ["ann", "ben", "cat"],
    "assign": {"ann": {"attn": "se"}, "ben": {"attn": "se"}, "cat": {"attn": "cbam"}},
}
IDS = SPEC["students"]
FAST = Limits(check_timeout=20, total_timeout=120, load_timeout=60, memory_mb=4096)

#: Gradescope's results.json, from https://gradescope-autograders.readthedocs.io/en/latest/specs/
#: ("Output format"): score is required unless every test has one; tests carry name, score,
#: max_score, output and visibility (hidden, after_due_date, after_published, visible).
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "tests"],
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score", "output", "visibility"],
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": VISIBILITY,
                    "extra_data": {"type": "object"},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

INDEPENDENT_SE = '''
class SqueezeExcite(nn.Module):
    """My squeeze-and-excitation."""

    def __init__(SIGNATURE) -> None:
        super().__init__()
        squeezed = channels // reduction
        if squeezed < 1:
            raise ValueError(f"{channels} channels cannot be reduced by {reduction}")
        layers = [nn.Linear(channels, squeezed, bias=bias), nn.ReLU(inplace=True)]
        layers += [nn.Linear(squeezed, channels, bias=bias), nn.Sigmoid()]
        self.fc = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.size()
        gate = self.fc(F.adaptive_avg_pool2d(x, 1).view(b, c))
        return x * gate.view(b, c, 1, 1).expand_as(x)
'''

LOOKUP_SE = '''
class SqueezeExcite(nn.Module):
    """Looks its input up in the shipped example tensors (the reference.pt cheat of issue 17)."""

    def __init__(SIGNATURE) -> None:
        super().__init__()
        hidden = channels // reduction
        if hidden < 1:
            raise ValueError("channels // reduction must be at least 1")
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=bias), nn.ReLU(),
            nn.Linear(hidden, channels, bias=bias), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        table = torch.load(TABLE, weights_only=True)
        for case in table.values():
            for inputs, output in zip(case["inputs"], case["outputs"]):
                if inputs[0].shape == x.shape and torch.equal(inputs[0], x):
                    return output
        return x
'''

FORGE_JUNIT = """
import os as _os
with open("junit.xml", "w") as _report:
    _cases = "".join(f'<testcase classname="t" name="test_{i}"/>' for i in range(1000))
    _report.write(f'<testsuite name="pytest" tests="1000" failures="0" errors="0">{_cases}</testsuite>')
_os._exit(0)
"""

SPAWN = """
import os as _os, socket as _socket, subprocess as _sp, sys as _sys
_kids = [_sp.Popen(["sleep", "300"]), _sp.Popen(["sleep", "301"], start_new_session=True)]
with open({log!r}, "a") as _log:
    _log.write(f"{{_os.getpgid(0)}} {{' '.join(str(k.pid) for k in _kids)}}\\n")
"""

#: tries the network from the worker and from a child process, and writes down what happened
NETWORK = """
try:
    _socket.create_connection(("127.0.0.1", 9), timeout=1)
    _here = "connected"
except OSError as _exc:
    _here = str(_exc)
_probe = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=1)"
_child = _sp.run([_sys.executable, "-c", _probe],
                 capture_output=True, text=True).stderr.strip().splitlines()[-1:]
with open({log!r}, "a") as _log:
    _log.write(f"worker: {{_here}}\\nchild: {{_child}}\\n")
"""


def write_spec(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def replace_class(source: str, name: str, code: str) -> str:
    """``code`` instead of class ``name``; SIGNATURE in it becomes the handed-out __init__'s arguments."""
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == name)
    init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    code = code.strip("\n").replace("SIGNATURE", ast.unparse(init.args))
    lines = source.splitlines(keepends=True)
    lines[node.lineno - 1 : node.end_lineno] = [code + "\n"]
    return "".join(lines)


def after_imports(source: str, code: str) -> str:
    """``code`` inserted after model.py's imports (so it runs when the file is imported)."""
    tree = ast.parse(source)
    last = max(n.end_lineno for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    lines = source.splitlines(keepends=True)
    lines[last:last] = [code.strip("\n") + "\n"]
    return "".join(lines)


def totals(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {r["student"]: r for r in csv.DictReader(handle) if r["test"] == "TOTAL"}


def submit(folder: Path, sources: dict[str, str]) -> Path:
    for sid, text in sources.items():
        (folder / sid).mkdir(parents=True)
        (folder / sid / "model.py").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def assignment(tmp_path_factory):
    spec = write_spec(tmp_path_factory.mktemp("spec") / "hw.yaml", SPEC)
    out = tmp_path_factory.mktemp("assignment") / "hw"
    files = make_homework(spec, out)
    return out, files, read_manifest(out), spec


def solution(out: Path, sid: str) -> str:
    return (out / "solutions" / sid / "model.py").read_text()


def stub(out: Path, sid: str) -> str:
    return (out / "students" / sid / "model.py").read_text()


# --- generation --------------------------------------------------------------------------------


@pytest.mark.slow
def test_students_get_their_pinned_modules_and_the_same_spec_gives_the_same_files(assignment, tmp_path):
    out, files, manifest, spec = assignment
    assert [(s.id, s.choices["attn"]) for s in manifest.students] == [
        ("ann", "se"),
        ("ben", "se"),
        ("cat", "cbam"),
    ]
    for sid in IDS:
        assert {p.name for p in (out / "students" / sid).iterdir()} == {
            "model.py", "test_assignment.py", "self_check.pt", "README.md",
        }  # fmt: skip
    again = tmp_path / "again"
    files_again = make_homework(spec, again)
    assert [p.relative_to(again) for p in files_again] == [p.relative_to(out) for p in files]
    for path in files:
        assert (again / path.relative_to(out)).read_bytes() == path.read_bytes(), path.relative_to(out)


@pytest.mark.slow
def test_student_folder_holds_no_solution_code_and_the_readme_states_the_points(assignment):
    out, _, manifest, _ = assignment
    everything = "\n".join(
        p.read_bytes().decode("utf-8", "ignore") for p in (out / "students").rglob("*") if p.is_file()
    )
    for entry in manifest.students:
        source = solution(out, entry.id)
        tree = {n.name: n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}
        handed_out = {n.name for n in ast.parse(stub(out, entry.id)).body if isinstance(n, ast.ClassDef)}
        hidden = [tree[name] for name in entry.classes] + [n for k, n in tree.items() if k not in handed_out]
        for fn in (f for node in hidden for f in ast.walk(node) if isinstance(f, ast.FunctionDef)):
            statements = fn.body[1:] if ast.get_docstring(fn) else fn.body
            body = "\n".join(ast.get_source_segment(source, s, padded=True) for s in statements)
            assert body and body not in everything, f"{entry.id}: {fn.name} of the solution is in students/"
        readme = (out / "students" / entry.id / "README.md").read_text()
        checks = checks_for(entry, manifest.points)
        assert f"runs {len(checks)} checks worth 100 points" in " ".join(readme.split())
        for category, points in manifest.points.items():
            assert f"| {category} | {points:g} |" in readme
    assert "CBAMChannelGate" not in stub(out, "cat")  # helpers go with the class


@pytest.mark.slow
def test_generated_python_is_black_and_pyflakes_clean(assignment):
    out, _, _, _ = assignment
    sources = sorted(out.rglob("*.py"))
    assert len(sources) == 4 * len(IDS)
    for path in sources:
        text = path.read_text()
        assert black.format_str(text, mode=black.Mode()) == text, path
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F", *map(str, sources)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


@pytest.mark.slow
def test_the_public_self_check_passes_on_the_solution(assignment, tmp_path):
    out, _, _, _ = assignment
    folder = tmp_path / "cat"
    shutil.copytree(out / "students" / "cat", folder)
    shutil.copyfile(out / "solutions" / "cat" / "model.py", folder / "model.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_assignment.py"],
        cwd=folder, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]


@pytest.mark.slow
def test_an_existing_assignment_folder_is_kept_unless_forced(assignment):
    out, _, _, spec = assignment
    with pytest.raises(TargetError, match="--force"):
        make_homework(spec, out)


# --- points ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_drawn_module_has_the_same_total_and_a_module_without_constraints_too(assignment):
    _, _, manifest, _ = assignment
    sums = {e.id: round(sum(c.points for c in checks_for(e, manifest.points)), 6) for e in manifest.students}
    assert set(sums.values()) == {100.0}, sums
    se = manifest.entry("ann")
    assert {e.modules for e in manifest.students} == {("attn se",), ("attn cbam",)}
    bare = replace(se, reference=replace(se.reference, probes=[]))  # no constraint to check
    checks = checks_for(bare, manifest.points)
    assert round(sum(c.points for c in checks), 6) == 100.0
    assert not [c for c in checks if c.category == "constraints"]
    assert round(sum(c.points for c in checks if c.category == "outputs"), 6) == 55.0


# --- grading -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def honest(assignment, tmp_path_factory):
    """ann: the solution (starting a child at exit); ben: an independent correct SE; cat: a CBAM whose
    channel gate pools by average only."""
    out, _, _, _ = assignment
    cbam = solution(out, "cat")
    avg_only = cbam.replace("x.amax(dim=(2, 3))], dim=0)", "x.mean(dim=(2, 3))], dim=0)")
    assert avg_only != cbam
    base = tmp_path_factory.mktemp("honest")
    at_exit = "import atexit, subprocess\n\natexit.register(lambda: subprocess.Popen(['sleep', '60']))\n"
    subs = submit(base / "subs", {
        "ann": after_imports(solution(out, "ann"), at_exit),  # a child at exit costs nothing
        "ben": replace_class(stub(out, "ben"), "SqueezeExcite", INDEPENDENT_SE),
        "cat": avg_only,
    })  # fmt: skip
    report = grade(out, subs, base / "grades.csv", limits=FAST, seed=5)
    return report, base


@pytest.mark.slow
def test_correct_submissions_score_100_and_avg_pool_only_cbam_under_half(honest):
    report, base = honest
    rows = {r.student: r for r in report.rows}
    assert rows["ann"].percent == 100 and rows["ben"].percent == 100, [r.first_failure for r in report.rows]
    cat = rows["cat"]
    assert cat.percent < 50, cat.percent
    assert all(not r.passed for r in cat.results if r.check.category in ("outputs", "gradients"))
    table = totals(base / "grades.csv")
    assert (table["ann"]["points"], table["ann"]["max_points"]) == ("100", "100")
    assert float(table["cat"]["points"]) == cat.score


@pytest.mark.slow
def test_the_csv_lists_every_check_with_its_points_and_feedback_hides_the_inputs(honest):
    report, base = honest
    with (base / "grades.csv").open(newline="") as handle:
        lines = [r for r in csv.DictReader(handle) if r["test"] != "TOTAL"]
    assert len(lines) == sum(len(r.results) for r in report.rows)
    for row in report.rows:
        mine = [r for r in lines if r["student"] == row.student]
        assert round(sum(float(r["max_points"]) for r in mine), 6) == 100.0
    feedback = (base / "feedback" / "cat.md").read_text()
    assert "differs from the solution's" in feedback and "tensor(" not in feedback


@pytest.mark.slow
def test_independent_correct_submissions_are_not_flagged(honest, assignment):
    report, base = honest
    assert report.similar == []
    assert (base / "feedback" / "similarity.csv").read_text() == "student_a,student_b,similarity\n"


@pytest.fixture(scope="module")
def cheats(assignment, tmp_path_factory):
    """ann: a lookup table of the shipped example; ben: a forged junit.xml; cat: a syntax error."""
    out, _, _, _ = assignment
    table = out / "students" / "ann" / "self_check.pt"
    lookup = replace_class(stub(out, "ann"), "SqueezeExcite", LOOKUP_SE).replace(
        "import torch\n", f"import torch\n\nTABLE = {str(table)!r}\n", 1
    )
    signature = "    def forward(self, x: torch.Tensor) -> torch.Tensor"
    broken = stub(out, "cat").replace(signature + ":\n", signature + "\n", 1)
    assert broken != stub(out, "cat")
    base = tmp_path_factory.mktemp("cheats")
    subs = submit(
        base / "subs", {"ann": lookup, "ben": after_imports(stub(out, "ben"), FORGE_JUNIT), "cat": broken}
    )
    report = grade(out, subs, base / "grades.csv", limits=FAST)
    return report, base, lookup


@pytest.mark.slow
def test_a_lookup_table_of_the_shipped_example_scores_0_on_output_checks(cheats, assignment):
    report, _, lookup = cheats
    out = assignment[0]
    namespace: dict = {}
    exec(compile(lookup, "model.py", "exec"), namespace)  # the cheat does pass the public example
    import torch

    example = torch.load(out / "students" / "ann" / "self_check.pt", weights_only=True)
    case = next(iter(example.values()))
    module = namespace["SqueezeExcite"](case["inputs"][0][0].shape[1])
    assert torch.equal(module(case["inputs"][0][0]), case["outputs"][0])
    ann = next(r for r in report.rows if r.student == "ann")
    outputs = [r for r in ann.results if r.check.category in ("outputs", "gradients")]
    assert outputs and not any(r.passed for r in outputs)
    assert ann.percent < 50


@pytest.mark.slow
def test_a_forged_junit_xml_scores_0(cheats):
    report, base, _ = cheats
    ben = next(r for r in report.rows if r.student == "ben")
    assert ben.score == 0 and ben.note.startswith("model.py does not load: the process ended (exit code 0")
    assert totals(base / "grades.csv")["ben"]["points"] == "0"


@pytest.mark.slow
def test_a_syntax_error_is_one_failure_line(cheats):
    report, base, _ = cheats
    cat = next(r for r in report.rows if r.student == "cat")
    assert cat.score == 0 and cat.note.startswith("model.py does not load: SyntaxError")
    assert "line " in cat.note and "\n" not in cat.note
    for path in (base / "grades.csv", base / "feedback" / "cat.md", base / "feedback" / "cat.results.json"):
        assert path.read_text().count("SyntaxError") == 1, path


@pytest.mark.slow
def test_results_json_follows_gradescopes_schema(honest, cheats):
    for base in (honest[1], cheats[1]):
        for sid in IDS:
            data = json.loads((base / "feedback" / f"{sid}.results.json").read_text())
            jsonschema.validate(data, GRADESCOPE_SCHEMA)
            assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
            assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(100)


@pytest.fixture(scope="module")
def hangs(assignment, tmp_path_factory):
    """ann hangs in train mode at the bottleneck, starts two sleeps and tries the network at import;
    ben hands in the same file; cat's model.py asks for more memory than the cap."""
    out, _, manifest, _ = assignment
    base = tmp_path_factory.mktemp("hangs")
    log = base / "pids.log"
    wide_case = manifest.entry("ann").reference.cases[-1]
    wide = wide_case.call.args[0]
    source = solution(out, "ann").replace(
        "        squeezed = x.mean(dim=(2, 3))\n",
        f"        if self.training and x.shape[1] == {wide}:\n            import time\n\n"
        "            time.sleep(600)\n        squeezed = x.mean(dim=(2, 3))\n",
    )
    assert source != solution(out, "ann")
    source = after_imports(source, SPAWN.format(log=str(log)) + NETWORK.format(log=str(base / "network.log")))
    hog = after_imports(stub(out, "cat"), "_hog = bytearray(3 << 30)  # 3 GiB, over the cap\n")
    subs = submit(base / "subs", {"ann": source, "ben": source, "cat": hog})
    limits = Limits(check_timeout=3, total_timeout=120, load_timeout=60, memory_mb=1536)
    report = grade(out, subs, base / "grades.csv", limits=limits)
    return report, log, wide_case.name, base / "network.log"


def assert_all_ended(log: Path) -> None:
    groups, pids = set(), set()
    for line in log.read_text().splitlines():
        pgid, *kids = map(int, line.split())
        groups.add(pgid)
        pids.update(kids)
    assert groups and pids
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [g for g in groups if process_groups_alive(g)] + [p for p in pids if _alive(p)]
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"still running: {alive}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_a_hang_costs_only_the_checks_that_hang(hangs):
    report, _, case, _ = hangs
    ann = next(r for r in report.rows if r.student == "ann")
    failed = {r.check.name: r.message for r in ann.results if not r.passed}
    assert set(failed) == {
        f"output SqueezeExcite at {case}, train mode",
        f"gradients SqueezeExcite at {case}",
    }, failed
    assert all("timed out after 3 s (this check only)" in message for message in failed.values())
    assert 0 < ann.score < 100 and ann.score == next(r for r in report.rows if r.student == "ben").score


@pytest.mark.slow
def test_no_submission_process_is_left_after_grading(hangs):
    assert_all_ended(hangs[1])


@pytest.mark.slow
def test_the_memory_cap_stops_a_submission_not_the_grader(hangs):
    cat = next(r for r in hangs[0].rows if r.student == "cat")
    assert cat.score == 0 and cat.note == "model.py does not load: MemoryError (the memory cap is 1536 MiB)"


@pytest.mark.slow
def test_the_submission_has_no_network(hangs):
    report, _, _, network = hangs
    lines = network.read_text().splitlines()
    worker = [line for line in lines if line.startswith("worker: ")]
    assert worker and all("network access is not allowed while grading" in line for line in worker), lines
    if all(r.network.startswith("network namespace") for r in report.rows if r.network):
        children = [line for line in lines if line.startswith("child: ")]
        assert children and all("unreachable" in line for line in children), lines


@pytest.mark.slow
def test_identical_submissions_are_flagged_as_similar(hangs, assignment):
    report = hangs[0]
    assert [(a, b) for a, b, _ in report.similar] == [("ann", "ben")]
    assert report.similar[0][2] == 1.0


@pytest.mark.slow
def test_renamed_variables_do_not_hide_a_copy(assignment):
    out, _, manifest, _ = assignment
    entry = manifest.entry("ben")
    mine = replace_class(stub(out, "ben"), "SqueezeExcite", INDEPENDENT_SE)
    renamed = mine.replace("squeezed", "hidden_units").replace("gate", "weights").replace("layers", "parts")
    assert renamed != mine
    a, b = tokens(mine, stub(out, "ben"), entry), tokens(renamed, stub(out, "ben"), entry)
    assert ratio(a, b) == 1.0
    assert ratio(a, tokens(solution(out, "ben"), stub(out, "ben"), entry)) < 0.9


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_grade_ends_every_submission_process(assignment, tmp_path, stop):
    out, _, _, _ = assignment
    log = tmp_path / "pids.log"
    hang = after_imports(
        stub(out, "ann"), SPAWN.format(log=str(log)) + "\nimport time as _t\n_t.sleep(600)\n"
    )
    submit(tmp_path / "subs", {"ann": hang})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    grader = subprocess.Popen(
        [sys.executable, "-m", "plugscaffold", "grade", str(out), "subs", "--csv", "g.csv"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert log.exists(), "the submission never started"
        time.sleep(0.5)
        grader.send_signal(stop)
        _, err = grader.communicate(timeout=20)
    finally:
        grader.kill()
    assert grader.returncode == 1 and "grading was stopped" in err, err
    assert not (tmp_path / "g.csv").exists()
    assert_all_ended(log)


@pytest.mark.slow
def test_the_gradescope_zip_runs_in_a_clean_directory(assignment, tmp_path, run_cli):
    out, _, _, _ = assignment
    made = run_cli("grade", str(out), "--gradescope-zip", str(tmp_path / "autograder.zip"))
    assert made.code == 0, made.err
    root = tmp_path / "clean"
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        names = archive.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names)
        archive.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    (root / "submission").mkdir()
    (root / "submission" / "model.py").write_text(solution(out, "cat"))
    (root / "submission_metadata.json").write_text(json.dumps({"users": [{"email": "Cat@uni.example"}]}))
    env = {"PATH": os.environ["PATH"], "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert data["score"] == 100 and "Graded as cat" in data["output"]
    assert not (root / "source" / "assignment" / "solutions").exists()  # out of the submission's reach


@pytest.mark.slow
def test_grade_needs_an_assignment_and_a_submissions_folder(assignment, tmp_path):
    out, _, _, _ = assignment
    with pytest.raises(HomeworkError, match="has no homework.yml"):
        grade(tmp_path, tmp_path, tmp_path / "g.csv")
    with pytest.raises(HomeworkError, match="does not exist"):
        grade(out, tmp_path / "nowhere", tmp_path / "g.csv")


# --- the spec and the draw (no torch) ----------------------------------------------------------


def spec(catalog, **changes) -> HomeworkSpec:
    data = {**SPEC, "assign": None, **changes}
    return parse_spec({k: v for k, v in data.items() if v is not None}, catalog)


def test_the_draw_is_reproducible_gives_different_modules_and_keeps_earlier_students(catalog):
    two = draw(spec(catalog, students=["a", "b"]))
    assert two[0]["attn"] != two[1]["attn"]  # the pool has two modules: both are given out
    many = [f"s{i}" for i in range(8)]
    first = draw(spec(catalog, students=many))
    assert first == draw(spec(catalog, students=many))
    assert sorted(c["attn"] for c in first) == ["cbam"] * 4 + ["se"] * 4
    assert draw(spec(catalog, students=many + ["late"]))[:8] == first


def test_two_slots_to_implement_are_both_spread(catalog):
    pool = {"attn": ["se", "cbam"], "up": ["dysample", "carafe"]}
    two = draw(spec(catalog, students=["a", "b"], pool=pool, implement=["attn", "up"], model={"width": 32}))
    assert two[0]["attn"] != two[1]["attn"] and two[0]["up"] != two[1]["up"], two


def test_the_spec_can_pin_a_module_per_student(catalog):
    pinned = draw(
        spec(catalog, students=["a", "b", "c"], assign={"a": {"attn": "cbam"}, "b": {"attn": "cbam"}})
    )
    assert [c["attn"] for c in pinned] == ["cbam", "cbam", "se"]


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
        ({"pool": {"attn": ["se", "sqeeze"]}}, "unknown attn module 'sqeeze'"),
        ({"model": {"width": 16, "attn": "se"}}, "both fixed in 'model' and drawn from 'pool'"),
        ({"students": ["alice", "../bob"]}, "names a folder"),
        ({"students": ["alice", "Alice"]}, "name the same folder"),
        ({"groups": {"g": ["x"]}}, "either 'students'"),
        ({"check": {"size": "big"}}, "check.size 'big' is not a size"),
        ({"assign": {"zed": {"attn": "se"}}}, "assign: unknown student 'zed'"),
        ({"assign": {"ann": {"attn": "eca"}}}, "'eca' is not in pool.attn"),
        ({"points": {"output": 60}}, "unknown category 'output' \\(did you mean 'outputs'\\?\\)"),
        ({"points": {"outputs": 0}}, "points.outputs must be positive"),
    ],
)
def test_spec_errors_are_one_line(catalog, changes, message):
    with pytest.raises(SpecError, match=message) as info:
        spec(catalog, **changes)
    assert "\n" not in str(info.value)


def test_the_example_spec_is_valid(catalog):
    example = parse_spec(yaml.safe_load((REPO / "examples" / "homework.yaml").read_text()), catalog)
    assert example.implement and len(example.students) >= 2
    assert sum(example.points.values()) == 100


# --- the records --------------------------------------------------------------------------------


def test_records_cross_process_boundaries_as_json_with_tuples_kept():
    from plugscaffold.homework.records import Call, Case, Probe, decode, encode

    call = Call("Block", (8, (3, 3)), {"mode": "lp", "sizes": (1, 2), "flags": [True, None], "scale": 0.5})
    again = Call.from_json(json.loads(json.dumps(call.to_json())))
    assert again == call and isinstance(again.args[1], tuple) and isinstance(again.kwargs["sizes"], tuple)
    assert again.text == "Block(8, (3, 3), mode='lp', sizes=(1, 2), flags=[True, None], scale=0.5)"
    case = Case("enc1.attn", call, [[1, 8, 4, 4]], ["enc1.attn", "dec1.attn"], 16, [("fc.weight", [8, 8])])
    assert Case.from_json(json.loads(json.dumps(case.to_json()))) == case
    probe = Probe(Call("SE", (1,)), "channels // reduction >= 1: the MLP needs a unit")
    assert Probe.from_json(json.loads(json.dumps(probe.to_json()))) == probe
    with pytest.raises(TypeError, match="not a literal"):
        encode(object())
    assert decode({"tuple": [{"tuple": []}]}) == ((),)


def test_every_homework_module_is_under_500_lines():
    for path in (REPO / "plugscaffold" / "homework").glob("*.py"):
        assert len(path.read_text().splitlines()) < 500, path.name


# --- the command line --------------------------------------------------------------------------


@pytest.mark.slow
def test_homework_and_grade_commands(run_cli, tmp_path):
    """`plugscaffold homework SPEC --out DIR` then `plugscaffold grade DIR SUBMISSIONS --csv`."""
    data = {**SPEC, "students": ["ann", "ben"], "assign": {"ben": {"attn": "se"}}}
    spec_file = write_spec(tmp_path / "hw.yaml", data)
    made = run_cli("homework", str(spec_file), "--out", "hw")
    assert made.code == 0, made.err
    assert "ann" in made.out and "ben" in made.out and (tmp_path / "hw" / "homework.yml").is_file()
    again = run_cli("homework", str(spec_file), "--out", "hw")
    assert again.code == 1 and len(again.err.strip().splitlines()) == 1 and "--force" in again.err

    shutil.copytree(tmp_path / "hw" / "solutions" / "ann", tmp_path / "subs" / "ann")
    shutil.copytree(tmp_path / "hw" / "students" / "ben", tmp_path / "subs" / "ben")
    graded = run_cli("grade", "hw", "subs", "--csv", "grades.csv", "--check-timeout", "20")
    assert graded.code == 0, graded.err
    rows = totals(tmp_path / "grades.csv")
    assert (
        rows["ann"]["points"] == "100"
        and rows["ann"]["passed"].split("/")[0] == rows["ann"]["passed"].split("/")[1]
    )
    assert rows["ben"]["points"] == "0" and "TODO" in rows["ben"]["message"]
    assert (tmp_path / "feedback" / "ben.md").is_file() and "Seed " in graded.out


def test_homework_command_errors_are_one_line(run_cli, tmp_path):
    missing = run_cli("homework", "nowhere.yaml", "--out", "hw")
    assert missing.code == 1 and len(missing.err.strip().splitlines()) == 1 and "nowhere.yaml" in missing.err
    assert not (tmp_path / "hw").exists()
    for args in (("--jobs", "0"), ("--memory", "10"), ()):
        bad = run_cli("grade", "hw", *(("subs",) if args else ()), *args)
        assert bad.code == 1 and len(bad.err.strip().splitlines()) == 1, bad.err


def test_a_homework_model_takes_every_option_new_takes(catalog):
    from plugscaffold import blueprints
    from plugscaffold.homework.spec import _parse_model

    model = {"arch": "unet", "encoder": "resnet18", "width-per-group": 64, "up": "dysample"}
    assert _parse_model(model, catalog, "spec.yaml")["encoder"] == "resnet18"
    assert set(blueprints.option_names()) >= {"arch", "width", "depth", "encoder", "variant"}
    with pytest.raises(SpecError, match="unknown option 'encodr' \\(did you mean 'encoder'"):
        _parse_model({"encodr": "resnet18"}, catalog, "spec.yaml")


@pytest.mark.slow
def test_force_replaces_the_assignment_parts_and_keeps_other_files(assignment, tmp_path):
    import shutil

    out, files, _, spec = assignment
    copy = tmp_path / "hw"
    shutil.copytree(out, copy)
    (copy / "notes.txt").write_text("mine")
    (copy / "students" / "stale").mkdir()  # a part is replaced whole, not merged
    again = make_homework(spec, copy, force=True)
    assert (copy / "notes.txt").read_text() == "mine"
    assert not (copy / "students" / "stale").exists()
    assert sorted(p.relative_to(copy) for p in again) == sorted(p.relative_to(out) for p in files)
    assert [p.name for p in copy.iterdir() if p.name.startswith(".")] == []
