"""Gradescope: the autograder zip (``grade --gradescope-zip``) and the program its run_autograder starts.

The zip holds ``setup.sh`` (installs torch and plugscaffold's dependencies), ``run_autograder``,
a copy of the plugscaffold package, and the assignment's manifest and solutions. For each
submission Gradescope runs ``run_autograder`` in a fresh container; it finds the student
(Gradescope's submission metadata, else the "Assignment for <id>" line in model.py), loads
the solution and draws the hidden inputs in memory, deletes the solutions from the
container, grades ``model.py`` like ``plugscaffold grade`` does, and writes
``results/results.json``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sys
import zipfile
from pathlib import Path

from ..files import replacing
from ..resources import PACKAGE_DIR
from .build import MANIFEST, Manifest, read_manifest
from .records import GradeRow, ManifestEntry
from .spec import HomeworkError

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission (in /autograder, as root, in a fresh container).
# AUTOGRADER_ROOT and AUTOGRADER_PYTHON let you try it elsewhere.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
mkdir -p "$ROOT/results"
cd "$ROOT/source" || exit 1
PYTHONPATH="$ROOT/source" exec "${AUTOGRADER_PYTHON:-python3}" -m plugscaffold.homework.gradescope "$ROOT"
"""

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image.
set -eu
apt-get install -y python3 python3-pip
pip3 install --index-url https://download.pytorch.org/whl/cpu torch
pip3 install -r /autograder/source/requirements.txt
"""

REQUIREMENTS = "jinja2>=3.1\npyyaml>=6.0\nblack>=24.1\nmerge3>=0.0.15\n"


def write_autograder(assignment_dir: str | Path, zip_path: str | Path) -> Path:
    """Write Gradescope's autograder zip for the assignment; return its path."""
    root = Path(assignment_dir)
    manifest = read_manifest(root)
    target = Path(zip_path)
    if target.is_dir():
        raise HomeworkError(f"{target} is a directory; give a file name such as autograder.zip")
    with replacing(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        _add_text(archive, "run_autograder", RUN_AUTOGRADER, executable=True)
        _add_text(archive, "setup.sh", SETUP, executable=True)
        _add_text(archive, "requirements.txt", REQUIREMENTS)
        for path in sorted(PACKAGE_DIR.rglob("*.py")):
            if "__pycache__" not in path.parts:
                archive.write(path, f"plugscaffold/{path.relative_to(PACKAGE_DIR).as_posix()}")
        archive.write(root / MANIFEST, f"assignment/{MANIFEST}")
        for entry in manifest.students:
            solution = root / "solutions" / entry.id / "model.py"
            if not solution.is_file():
                raise HomeworkError(f"{solution} is missing; regenerate the assignment")
            archive.write(solution, f"assignment/solutions/{entry.id}/model.py")
    return target


def _add_text(archive: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


# --- inside the container ------------------------------------------------------------------------


def _who(root: Path, manifest: Manifest, model: Path | None) -> tuple[ManifestEntry | None, str]:
    """The student of this submission, and how they were recognised."""
    ids = {s.id.lower(): s for s in manifest.students}
    try:
        metadata = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
        users = metadata.get("users") or []
    except (OSError, ValueError, AttributeError):
        users = []
    for user in users:
        for key in ("email", "name", "sid", "id"):
            value = str((user or {}).get(key) or "").strip().lower()
            for candidate in (value, value.split("@")[0]):
                if candidate in ids:
                    return ids[candidate], f"Gradescope user {key} '{value}'"
    if model is not None:
        head = model.read_text(encoding="utf-8", errors="replace")[:4000]
        match = re.search(r"Assignment for (\S+?)[ (]", head)
        if match and match.group(1).lower() in ids:
            return ids[match.group(1).lower()], "the 'Assignment for' line of model.py"
    if len(manifest.students) == 1:
        return manifest.students[0], "the only assignment"
    return None, ""


def main(root_text: str) -> int:
    from .grade import grade_one, prepare
    from .outputs import results_json
    from .runner import Limits, protected

    root = Path(root_text)
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    assignment = root / "source" / "assignment"
    manifest = read_manifest(assignment)
    found = sorted((root / "submission").rglob("model.py"), key=lambda p: len(p.parts))
    model = found[0] if found else None
    entry, how = _who(root, manifest, model)
    if entry is None:
        ids = ", ".join(s.id for s in manifest.students)
        output = (
            f"Could not tell whose assignment this is (ids: {ids}); "
            "keep the 'Assignment for' line of model.py."
        )
        results.write_text(json.dumps({"score": 0, "output": output, "tests": []}))
        return 0
    with protected():
        prepared = prepare(assignment, manifest, entry, secrets.randbelow(2**31))
        shutil.rmtree(assignment / "solutions", ignore_errors=True)  # loaded: out of the submission's reach
        path = model if model is not None else root / "submission" / "model.py"
        row: GradeRow = grade_one(entry, path, prepared, Limits())
    data = results_json(row)
    data["output"] = f"Graded as {entry.id} ({how}).\n{data['output']}"
    results.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"{entry.id}: {row.score:g}/{row.max_score:g}; network cut by {row.network or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/autograder"))
