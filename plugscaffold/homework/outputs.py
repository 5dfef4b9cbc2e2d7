"""What grading writes: the CSV (every check with its points), feedback per student,
Gradescope's results.json.

Messages say what failed and why, never the hidden weights or inputs (those exist only in the
grader's memory during the run). A submission that does not load is reported once, in its
summary line; its checks say "not run".
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .build import Manifest
from .records import CATEGORIES, GradeRow

CSV_COLUMNS = ("student", "test", "category", "points", "max_points", "passed", "message")
#: Gradescope's visibility of each test: shown as soon as the score is published
VISIBILITY = "after_published"


def _commit(directory: Path, files: dict[str, str]) -> list[Path]:
    """``files`` into ``directory``, all or none (files.commit: the one way files are written)."""
    from ..files import commit, staging

    directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    with staging(directory.parent) as stage:
        return commit(stage, directory, files)


def write_outputs(
    rows: list[GradeRow],
    manifest: Manifest,
    csv_path: Path,
    feedback: Path,
    similar: list[tuple[str, str, float]],
) -> list[Path]:
    """The CSV, then feedback/<id>.md, <id>.results.json and similarity.csv; the paths written."""
    written = _commit(csv_path.parent, {csv_path.name: csv_text(rows)})
    files = {}
    for row in rows:
        files[f"{row.student}.md"] = feedback_markdown(row, manifest.title)
        files[f"{row.student}.results.json"] = json.dumps(results_json(row), indent=2) + "\n"
    lines = ["student_a,student_b,similarity"] + [f"{a},{b},{ratio:.3f}" for a, b, ratio in similar]
    files["similarity.csv"] = "\n".join(lines) + "\n"
    return written + _commit(feedback, files)


def csv_text(rows: list[GradeRow]) -> str:
    """One line per check with its points, then one 'TOTAL' line per student."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        for r in row.results:
            message = "" if r.passed else r.message
            writer.writerow([row.student, r.check.name, r.check.category, f"{r.score:g}",
                             f"{r.check.points:g}", "yes" if r.passed else "no", message])  # fmt: skip
        writer.writerow([row.student, "TOTAL", "total", f"{row.score:g}", f"{row.max_score:g}",
                         f"{row.passed}/{len(row.results)}", row.first_failure])  # fmt: skip
    return buffer.getvalue()


def _by_category(row: GradeRow) -> list[tuple[str, float, float]]:
    out = []
    for category in CATEGORIES:
        mine = [r for r in row.results if r.check.category == category]
        if mine:
            out.append((category, sum(r.score for r in mine), sum(r.check.points for r in mine)))
    return out


def feedback_markdown(row: GradeRow, title: str) -> str:
    lines = [
        f"# {title}: feedback for {row.student}",
        "",
        f"Score: **{row.score:g} / {row.max_score:g}**",
        "",
    ]
    if row.note:
        lines += [f"Your submission could not be graded: {row.note}", ""]
    lines += ["| category | points |", "|---|---:|"]
    lines += [f"| {c} | {got:g} / {total:g} |" for c, got, total in _by_category(row)]
    failed = [r for r in row.results if not r.passed]
    lines.append("")
    if row.note:
        lines.append(f"None of the {len(row.results)} checks could run.")
    elif failed:
        lines += ["## What failed", ""]
        lines += [f"- **{r.check.name}** ({r.check.points:g} points): {r.message}" for r in failed]
    else:
        lines.append("Every check passed.")
    lines += [
        "",
        "The checks use weights and inputs drawn afresh for each grading run, so they are not shown.",
    ]
    return "\n".join(lines) + "\n"


def results_json(row: GradeRow) -> dict[str, Any]:
    """Gradescope's results.json: total score, a summary, and every check as a test."""
    tests = []
    for r in row.results:
        verdict = "Passed." if r.passed else f"Failed: {r.message}"
        tests.append(
            {
                "name": f"{r.check.category}: {r.check.name}",
                "score": r.score,
                "max_score": r.check.points,
                "output": f"Checks that {r.check.label}.\n{verdict}",
                "visibility": VISIBILITY,
            }
        )
    summary = f"{row.score:g} of {row.max_score:g} points; {row.passed} of {len(row.results)} checks passed."
    if row.note:
        summary = f"{row.note}\n{summary}"
    return {"score": row.score, "output": summary, "visibility": VISIBILITY, "tests": tests}


def format_grades(rows: list[GradeRow], csv_path: str | Path | None = None, seed: int | None = None) -> str:
    """A table of the rows for the terminal."""
    from ..report import table

    cells = [["student", "score", "checks", "first failure"]]
    for r in rows:
        cells.append(
            [r.student, f"{r.score:g}/{r.max_score:g}", f"{r.passed}/{len(r.results)}", r.first_failure[:100]]
        )
    lines = table(cells, indent="")
    if csv_path is not None:
        lines += ["", f"Grades       {csv_path} (every check with its points)"]
    if seed is not None:
        lines.append(f"Seed         {seed} (the hidden inputs of this run; --seed repeats it)")
    networks = sorted({r.network for r in rows if r.network})
    if networks:
        lines.append(f"Network      cut by {'; '.join(networks)}")
    return "\n".join(lines)
