"""``plugscaffold update``: regenerate a project with changed options, keeping the user's edits.

Three versions of every generated file meet in a three-way merge:

- base: what plugscaffold generated before: the text recorded in .plugscaffold-generated
  (checked against the digest of each file in the answers file), else re-rendered from the
  recorded answers when that reproduces the digest, else your file when it still has it;
- yours: the file as it is now, with your edits;
- new: what plugscaffold generates with the changed options.

Lines only you changed keep your version; lines only the update changed take the new one;
lines both changed get standard conflict markers (``<<<<<<< yours`` ... ``>>>>>>> new``),
the command names the files and exits 1. Nothing is lost either way. No git repository
or template tags are needed: the answers file (.plugscaffold.yml) and the text it was made
with (.plugscaffold-generated) are the whole record. So a plugscaffold upgrade (a changed
template, catalog or module) between generation and update is the update's change, never
taken for yours; when no recorded base reproduces a digest, the update says so.

Plug-in classes whose catalog implementation changed since generation keep the code in
your file (their lines differ between base and yours) unless ``--upgrade-modules``.

The smoke check runs on exactly the model.py that will be written: when your edits make
the merged file differ from the regenerated one, the merged file is checked too, and a
merge that fails is not written (unless ``keep_failing``). One update at a time holds
the project's lock; a second one waits for it and then merges over the first's result.
A project made by copier has its ``.copier-answers.yml`` rewritten with the new answers
(and its check size is taken from there), so that ``copier update`` stays in step.
"""

from __future__ import annotations

import ast
import difflib
import os
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import merge3
import yaml

from .answers import (
    ANSWERS_FILE,
    FIX,
    GENERATED_FILE,
    Answers,
    digest,
    read_generated,
    read_project_record,
    source_digest,
)
from .blueprints import make_plan
from .catalog import Catalog, load_catalog
from .errors import (
    MergeFailsCheck,
    PlugscaffoldError,
    SmokeError,
    SpecError,
    TargetError,
    UpdateConflict,
    shorten,
)
from .files import commit, project_lock, staging, write_text
from .inline import definition, fit_width, splice
from .options import Check, Output, parse_size
from .pipeline import Generated, generate
from .project import project_files
from .render import format_code, render_model
from .smoke import SmokeResult, SmokeWorker
from .spec import PLACED_SLOT, make_spec
from .yamlfile import read_yaml

COPIER_ANSWERS = ".copier-answers.yml"


@dataclass
class Updated:
    generated: Generated
    merged: dict[str, str]
    conflicts: list[str]
    changed: list[str]  # files that existed and change
    added: list[str] = field(default_factory=list)  # files the update creates
    failing: str = ""  # why the merged model.py fails its check ('' when it passes or was not checked)
    kept_modules: list[str] = field(default_factory=list)
    upgraded_modules: list[str] = field(default_factory=list)
    diff: str = ""
    notes: list[str] = field(default_factory=list)  # where the base came from, when not re-rendered


def read_text(path: Path) -> str:
    """A project file the user may have edited: UTF-8 text, or one line saying what it is not."""
    if path.is_dir():
        raise TargetError(f"{path} is a directory where the project has a file; move it away and run again")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path} is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}, "
            "perhaps saved as latin-1); save it as UTF-8 and run the update again"
        ) from None


def update(
    directory: str | Path,
    changes: Mapping[str, Any],
    *,
    check: Check | None = None,
    smoke: bool = True,
    dry_run: bool = False,
    upgrade_modules: bool = False,
    project: bool = False,
    keep_failing: bool = False,
    timeout: float | None = None,
    catalog: Catalog | None = None,
    on_wait: Callable[[], None] | None = None,
) -> Updated:
    """Regenerate ``directory`` with ``changes`` applied; see the module docstring.

    Without ``check`` the project's own check size is used (a training project's, the one
    answered in copier, else the default); ``timeout`` applies either way. ``on_wait`` is
    called if another command holds the project's lock (this one waits).
    """
    directory = Path(os.path.realpath(directory))
    if not directory.is_dir():
        raise TargetError(f"{directory} is not a directory; pass a project made by 'plugscaffold new'")
    catalog = catalog or load_catalog()
    with project_lock(directory, on_wait), ExitStack() as stack:
        recorded = Answers.load(directory)
        base, record = _base(directory, recorded, catalog)
        base, notes = true_base(directory, recorded, base)
        copier = _read_copier_answers(directory)
        check = _update_check(directory, check, record, copier, timeout)
        # With your edits in model.py the merged file gets its own check: its worker starts
        # now, importing torch while the regenerated model is checked.
        model = directory / "model.py"
        edited = model.exists() and read_text(model) != base["model.py"]
        worker = stack.enter_context(SmokeWorker()) if smoke and edited else None

        gen = generate(
            recorded.name,
            {**recorded.options, **{k: v for k, v in changes.items() if v is not None}},
            output=Output.RENDER_PROJECT if project or record is not None else Output.RENDER,
            check=check,
            smoke=smoke,
            catalog=catalog,
        )
        result = _merge_all(directory, base, gen, recorded.modules, catalog, upgrade_modules)
        result.notes = notes
        if smoke:
            _check_merged(result, gen, worker, stop=not (keep_failing or dry_run))
        if dry_run:
            return result
        _write(directory, result, gen, copier, project or record is not None)
    _raise_unless_clean(result)
    return result


def _update_check(
    directory: Path, check: Check | None, record: Any, copier: dict[str, Any] | None, timeout: float | None
) -> Check:
    """The check the update runs: ``check`` when given, else a training project's own size (its
    record), else the size answered in copier, else the default; ``timeout`` applies either way."""
    if check is None and record is not None:  # a training project keeps its image size
        check = replace(read_project_record(record)[0], timeout=Check().timeout)
    check = check or _copier_check(directory, copier) or Check()
    if timeout is not None:
        check = replace(check, timeout=timeout)
    return check


def _check_merged(result: Updated, gen: Generated, worker: SmokeWorker | None, stop: bool) -> None:
    """Check the merged model.py as it will be written, when your edits make it differ from the
    regenerated one (which ``generate`` checked). A failure stops the update (MergeFailsCheck,
    nothing written) when ``stop``; else it is kept in ``result.failing``."""
    if result.conflicts or result.merged["model.py"] == gen.contents["model.py"]:
        return
    try:
        checked = check_source(result.merged["model.py"], gen, worker)
        result.generated = replace(gen, source=result.merged["model.py"], smoke=checked)
    except SmokeError as exc:
        result.failing = str(exc)
        if stop:
            raise MergeFailsCheck(
                f"the merged model.py (the update with your edits) fails its check: {exc}; nothing "
                "was written (fix your edit, or pass --keep-failing to write the merge anyway)"
            ) from None


def _write(
    directory: Path, result: Updated, gen: Generated, copier: dict[str, Any] | None, project: bool
) -> None:
    """Write the files that change or are added, the records (answers and generated text, the
    next update's base) and copier's answers when copier made the project: all or none."""
    contents = {relative: result.merged[relative] for relative in [*result.changed, *result.added]}
    contents[ANSWERS_FILE] = gen.contents[ANSWERS_FILE]
    contents[GENERATED_FILE] = gen.contents[GENERATED_FILE]  # the next update's base
    if copier is not None:
        contents[COPIER_ANSWERS] = _copier_answers_text(directory, copier, gen, project)
    with staging(directory) as stage:
        commit(stage, directory, contents, replace=True)


def _raise_unless_clean(result: Updated) -> None:
    """After writing: a merge kept although it fails its check (--keep-failing), or conflicts,
    end the command with its one line (exit 1)."""
    if result.failing:
        raise MergeFailsCheck(
            f"wrote the merge as asked (--keep-failing), but model.py fails its check: {result.failing}"
        )
    if result.conflicts:
        raise UpdateConflict(
            f"updated with conflicts in {', '.join(result.conflicts)}: your edits and the update changed the "
            "same lines; resolve the <<<<<<< yours / >>>>>>> new markers (the check did not run on the "
            "conflicted file)"
        )


def _base(directory: Path, recorded: Answers, catalog: Catalog) -> tuple[dict[str, str], Any]:
    """What plugscaffold generated before (regenerated from the answers), and the project record."""
    try:
        old_spec = make_spec(catalog, recorded.name, recorded.options)
    except PlugscaffoldError as exc:
        raise SpecError(f"{directory / ANSWERS_FILE} records options this catalog rejects: {exc}") from None
    old_plan = make_plan(old_spec, catalog)
    base = {"model.py": render_model(old_plan, catalog, recorded.parameters)}
    record = recorded.project
    if record is not None:
        try:
            project_check, measured = read_project_record(record)
        except ValueError as exc:
            raise SpecError(f"{directory / ANSWERS_FILE} is corrupted ({exc}); {FIX}") from None
        base.update(project_files(old_plan, catalog, measured, project_check))
    return base, record


#: The files that record how a project was made: written by each update, never merged.
RECORDS = (ANSWERS_FILE, GENERATED_FILE)


def true_base(
    directory: Path, recorded: Answers, rendered: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The text plugscaffold generated for each file, and a note for each file whose base
    is not the re-rendered one.

    The answers file records a digest of each generated file. The re-rendered base counts
    when it reproduces that digest; otherwise plugscaffold changed since (a new version, its
    catalog or a module), and the recorded text is the base, or your file when it still has
    the digest (you did not edit it). Only when none does (a project made before digests
    were recorded has none to check) is the re-rendered base used as it is.
    """
    digests = recorded.generated
    if digests is None:
        return rendered, []  # made before plugscaffold recorded what it generated
    stored: dict[str, str] = {}
    path = directory / GENERATED_FILE
    if path.is_file():
        try:
            stored = read_generated(read_text(path))
        except ValueError:
            stored = {}
    made = f"plugscaffold {recorded.plugscaffold_version}, catalog {recorded.catalog_version}"
    base, notes = dict(rendered), []
    for relative, wanted in digests.items():
        if not isinstance(relative, str) or relative in RECORDS:
            continue
        if relative in rendered and digest(rendered[relative]) == wanted:
            continue
        current = directory / relative
        if relative in stored and digest(stored[relative]) == wanted:
            base[relative] = stored[relative]
            source = f"the text recorded in {GENERATED_FILE}"
        elif current.is_file() and digest(read_text(current)) == wanted:
            base[relative] = read_text(current)
            source = "your file, which you have not edited"
        else:
            notes.append(
                f"{relative}: what {made} generated is neither reproduced nor recorded "
                f"({GENERATED_FILE} missing or altered); lines plugscaffold has changed since may "
                "show as your edits"
            )
            continue
        notes.append(
            f"{relative}: this version renders what {made} generated differently; merged against "
            f"{source}, so the difference is the update's, not yours"
        )
    return base, notes


def _copier_check(directory: Path, copier: dict[str, Any] | None) -> Check | None:
    """The check at the size answered in copier (None when there is none, or it was left empty)."""
    size = (copier or {}).get("size")
    size = "" if size is None else str(size).strip()
    if not size:
        return None
    try:
        height, width = parse_size(size)
    except SpecError:
        raise SpecError(
            f"{directory / COPIER_ANSWERS} has size '{shorten(size)}', which is not a size (H or HxW); "
            "correct it or pass --size"
        ) from None
    return replace(Check(), height=height, width=width)


def _merge_all(
    directory: Path,
    base: dict[str, str],
    gen: Generated,
    modules: dict[str, str],
    catalog: Catalog,
    upgrade_modules: bool,
) -> Updated:
    """Three-way merge of every generated file (base, yours on disk, new in ``gen``)."""
    new = {relative: text for relative, text in gen.contents.items() if relative not in RECORDS}
    current = {
        relative: read_text(directory / relative) for relative in new if (directory / relative).exists()
    }
    changed_modules = [
        key for key, digest in modules.items()
        if key in catalog.entries and source_digest(catalog.entries[key].classes) != digest
    ]  # fmt: skip
    result = Updated(gen, {}, [], [], [])
    diffs = []
    for relative, new_text in new.items():
        old = base.get(relative, "")  # "" for a file the update adds (--project on a model-only project)
        yours = current.get(relative, old)
        if upgrade_modules:
            classes = [c for k in changed_modules for c in catalog.entries[k].classes]
            yours = _upgrade_classes(yours, classes, directory / relative)
        text, conflicted = merge(old, yours, new_text)
        result.merged[relative] = text
        if conflicted:
            result.conflicts.append(relative)
        if text != current.get(relative):
            (result.changed if relative in current else result.added).append(relative)
            diffs.append(_diff(current.get(relative, ""), text, relative))
    result.diff = "".join(diffs)
    if upgrade_modules:
        result.upgraded_modules = changed_modules
    else:
        result.kept_modules = changed_modules
    return result


def check_source(source: str, gen: Generated, worker: SmokeWorker | None = None) -> SmokeResult:
    """Smoke-check ``source`` (a model.py for ``gen``'s Plan), exactly as it would be written,
    with ``worker`` (started earlier) or a new one."""
    with worker or SmokeWorker() as worker, staging(None) as stage:
        path = stage / "model.py"
        write_text(path, source)
        return worker.run(path, gen.plan, gen.check)


def _read_copier_answers(directory: Path) -> dict[str, Any] | None:
    """copier's record of the answers, for a project made by ``copier copy`` (else None)."""
    path = directory / COPIER_ANSWERS
    if not os.path.lexists(path):
        return None
    data = read_yaml(path, fix=FIX)
    if not isinstance(data, dict):
        raise SpecError(f"{path} is corrupted (not a mapping); {FIX}")
    return data


def _copier_answers_text(directory: Path, old: dict[str, Any], gen: Generated, project: bool) -> str:
    """``.copier-answers.yml`` with the answers of ``gen`` (copier's own keys, ``_commit``..., kept)."""
    data = dict(old)
    options = gen.plan.spec.options()
    for key, value in options.items():
        if key == PLACED_SLOT:
            data[key] = "; ".join(value) if isinstance(value, list) else value
        elif isinstance(value, str):  # a slot choice: NAME in one answer, KEY=VALUE,... in NAME_params
            name, _, params = value.partition(":")
            data[key] = name
            if params or f"{key}_params" in data:
                data[f"{key}_params"] = params
        else:
            data[key] = value
    data["project"] = project
    if not gen.check.auto:  # a size chosen by the check itself is not an answer
        data["size"] = gen.check.size_text
    header = "".join(
        line for line in (directory / COPIER_ANSWERS).read_text(encoding="utf-8").splitlines(True)
        if line.startswith("#")
    )  # fmt: skip
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def merge(base: str, yours: str, new: str) -> tuple[str, bool]:
    """Three-way merge of whole files; (text, whether it has conflicts)."""
    m = merge3.Merge3(base.splitlines(True), yours.splitlines(True), new.splitlines(True))
    conflicted = any(region[0] == "conflict" for region in m.merge_regions())
    text = "".join(m.merge_lines(name_a="yours", name_b="new"))
    return text, conflicted


def _upgrade_classes(source: str, names: list[str], path: Path) -> str:
    """Replace top-level definitions ``names`` in ``source`` with the catalog's current code."""
    if not names:
        return source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise SpecError(
            f"{path} does not parse ({exc.msg}, line {exc.lineno}); fix it before --upgrade-modules"
        ) from None
    return splice(
        source,
        [
            (node, format_code(fit_width(definition(node.name).source)))
            for node in tree.body
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in names
        ],
    )


def _diff(old: str, new: str, name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))
