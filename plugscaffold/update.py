"""``plugscaffold update``: regenerate a project with changed options, keeping the user's edits.

Three versions of every generated file meet in a three-way merge:

- base: what plugscaffold generated before, regenerated from the recorded answers;
- yours: the file as it is now, with your edits;
- new: what plugscaffold generates with the changed options.

Lines only you changed keep your version; lines only the update changed take the new one;
lines both changed get standard conflict markers (``<<<<<<< yours`` ... ``>>>>>>> new``),
the command names the files and exits 1. Nothing is lost either way. No git repository
or template tags are needed: the answers file (.plugscaffold.yml) is the whole record.

Plug-in classes whose catalog implementation changed since generation keep the code in
your file (their lines differ between base and yours) unless ``--upgrade-modules``.
"""

from __future__ import annotations

import ast
import difflib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import merge3
import yaml

from .answers import ANSWERS_FILE, read_project_record, source_digest
from .blueprints import make_plan
from .catalog import Catalog, load_catalog
from .errors import PlugscaffoldError, SpecError, TargetError
from .files import staging
from .inline import index
from .pipeline import Generated, generate
from .project import project_files
from .render import format_code, render_model
from .smoke import Check
from .spec import make_spec


class UpdateConflict(PlugscaffoldError):
    """Both your edits and the update changed the same lines of some files."""


@dataclass
class Updated:
    generated: Generated
    merged: dict[str, str]
    conflicts: list[str]
    changed: list[str]
    kept_modules: list[str] = field(default_factory=list)
    upgraded_modules: list[str] = field(default_factory=list)
    diff: str = ""


def read_answers(directory: Path) -> dict[str, Any]:
    """The recorded answers of a project, checked enough to regenerate from them."""
    path = directory / ANSWERS_FILE
    if not directory.is_dir():
        raise TargetError(f"{directory} is not a directory")
    if not path.is_file():
        raise TargetError(
            f"{directory} has no {ANSWERS_FILE}, so it was not made by plugscaffold (or the file was deleted); "
            "generate a project with 'plugscaffold new' first"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(
            f"{path} is corrupted ({str(exc).splitlines()[0]}); restore it from version control"
        ) from None
    required = {"name": str, "options": dict, "parameters": (int, type(None)), "modules": dict}
    if not isinstance(data, dict):
        raise SpecError(f"{path} is corrupted (not a mapping); restore it from version control")
    for key, kind in required.items():
        if not isinstance(data.get(key), kind):
            raise SpecError(
                f"{path} is corrupted ('{key}' is missing or malformed); restore it from version control"
            )
    return data


def update(
    directory: str | Path,
    changes: Mapping[str, Any],
    *,
    check: Check | None = None,
    smoke: bool = True,
    dry_run: bool = False,
    upgrade_modules: bool = False,
    project: bool = False,
    catalog: Catalog | None = None,
) -> Updated:
    """Regenerate ``directory`` with ``changes`` applied; see the module docstring."""
    directory = Path(directory)
    catalog = catalog or load_catalog()
    recorded = read_answers(directory)
    name = recorded["name"]
    try:
        old_spec = make_spec(catalog, name, recorded["options"])
    except PlugscaffoldError as exc:
        raise SpecError(f"{directory / ANSWERS_FILE} records options this catalog rejects: {exc}") from None
    old_plan = make_plan(old_spec, catalog)
    base = {"model.py": render_model(old_plan, catalog, recorded["parameters"])}
    record = recorded.get("project")
    if record is not None:
        try:
            project_check, measured = read_project_record(record)
        except ValueError as exc:
            raise SpecError(
                f"{directory / ANSWERS_FILE} is corrupted ({exc}); restore it from version control"
            ) from None
        base.update(project_files(old_plan, catalog, measured, project_check))
        check = check or replace(project_check, timeout=Check().timeout)  # the project keeps its image size
    check = check or Check()

    options = {**recorded["options"], **{k: v for k, v in changes.items() if v is not None}}
    gen = generate(
        name,
        options,
        check=check,
        smoke=smoke,
        write=False,
        project=project or record is not None,
        catalog=catalog,
    )
    new = {relative: text for relative, text in gen.contents.items() if relative != ANSWERS_FILE}

    changed_modules = [
        key for key, digest in recorded["modules"].items()
        if key in catalog.entries and source_digest(catalog.entries[key].classes) != digest
    ]  # fmt: skip
    merged, conflicts, changed, diffs = {}, [], [], []
    for relative, new_text in new.items():
        path = directory / relative
        base.setdefault(relative, "")  # a file the update adds (--project on a model-only project)
        yours = path.read_text(encoding="utf-8") if path.exists() else base[relative]
        if upgrade_modules:
            yours = _upgrade_classes(yours, [c for k in changed_modules for c in catalog.entries[k].classes])
        text, conflicted = merge(base[relative], yours, new_text)
        merged[relative] = text
        if conflicted:
            conflicts.append(relative)
        if text != (path.read_text(encoding="utf-8") if path.exists() else None):
            changed.append(relative)
            diffs.append(_diff(path.read_text(encoding="utf-8") if path.exists() else "", text, relative))
    result = Updated(gen, merged, conflicts, changed, diff="".join(diffs))
    if upgrade_modules:
        result.upgraded_modules = changed_modules
    else:
        result.kept_modules = changed_modules
    if dry_run:
        return result
    contents = dict(merged)
    contents[ANSWERS_FILE] = gen.contents[ANSWERS_FILE]
    with staging(directory) as stage:
        for relative, text in contents.items():
            (stage / relative).parent.mkdir(parents=True, exist_ok=True)
            (stage / relative).write_text(text, encoding="utf-8")
        for relative in contents:
            os.replace(stage / relative, directory / relative)
    if conflicts:
        raise UpdateConflict(
            f"updated with conflicts in {', '.join(conflicts)}: your edits and the update changed the same lines; "
            "resolve the <<<<<<< yours / >>>>>>> new markers"
        )
    return result


def merge(base: str, yours: str, new: str) -> tuple[str, bool]:
    """Three-way merge of whole files; (text, whether it has conflicts)."""
    m = merge3.Merge3(base.splitlines(True), yours.splitlines(True), new.splitlines(True))
    conflicted = any(region[0] == "conflict" for region in m.merge_regions())
    text = "".join(m.merge_lines(name_a="yours", name_b="new"))
    return text, conflicted


def _upgrade_classes(source: str, names: list[str]) -> str:
    """Replace top-level definitions ``names`` in ``source`` with the catalog's current code."""
    if not names:
        return source
    lines = source.splitlines(True)
    tree = ast.parse(source)
    for node in sorted(tree.body, key=lambda n: -n.lineno):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in names:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            lines[start : node.end_lineno] = [format_code(index()[node.name].source)]
    return "".join(lines)


def _diff(old: str, new: str, name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))
