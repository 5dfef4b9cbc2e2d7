"""Homework: per-student variants of a generated model (``plugscaffold homework``) and fair grading.

The package, by step:

``spec``          the spec file: seed, shared options, pool, slots to implement, students or
                  groups, pinned choices (``assign``) and points per check category;
``draw``          one set of choices per student, reproducibly, different modules while the pool allows;
``build``         generation: every variant, the survey of the solutions (``_survey_worker.py``,
                  a torch subprocess), ``homework.yml``;
``student``       the student's model.py with TODO stubs, the public self-check, the README;
``checks``        the graded checks and their points (the same list for the README and the grader);
``grade``         grading: hidden inputs drawn per run, the solution run in the grader, the
                  submission in ``_grade_worker.py`` under ``runner``'s limits; CSV, feedback, results.json;
``runner``        process groups, per-check timeouts, memory cap, network cut, cleanup on signals;
``similarity``    pairs of submissions whose normalised ASTs match (a flag, never a score);
``gradescope``    the autograder zip and its entry point.
"""

from __future__ import annotations

from .build import MANIFEST, SELF_CHECK_FILE, TEST_FILE, format_assignments, make_homework, read_manifest
from .draw import draw
from .grade import grade
from .outputs import format_grades
from .records import CATEGORIES, DEFAULT_POINTS
from .spec import HomeworkError, HomeworkSpec, Student, load_spec, parse_spec

__all__ = [
    "CATEGORIES", "DEFAULT_POINTS", "MANIFEST", "SELF_CHECK_FILE", "TEST_FILE", "HomeworkError",
    "HomeworkSpec", "Student", "draw", "format_assignments", "format_grades", "grade", "load_spec",
    "make_homework", "parse_spec", "read_manifest",
]  # fmt: skip
