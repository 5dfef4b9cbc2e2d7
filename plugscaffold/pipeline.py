"""The one orchestration function: options -> Spec -> Plan -> source -> files -> smoke."""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import blueprints
from .answers import answers, project_record, record_generated
from .blueprints import make_plan
from .catalog import Catalog, load_catalog
from .files import check_target, commit, staging
from .options import PROJECT_SIZE, Check, Output
from .plan import Plan, fit_check
from .project import check_task, project_files
from .render import render_model, with_parameters
from .smoke import SmokeResult, SmokeWorker
from .spec import Spec, make_spec


@dataclass(frozen=True)
class Generated:
    """What ``generate`` made: the Plan, the model source, the smoke result, the files."""

    plan: Plan
    source: str
    smoke: SmokeResult | None
    check: Check
    contents: dict[str, str] = field(default_factory=dict)  # every file of the project, by relative path
    files: list[Path] = field(default_factory=list)


def generate(
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    output: Output = Output.WRITE,
    parent: str | Path = ".",
    replace: bool = False,
    check: Check = Check(),
    smoke: bool = True,
    catalog: Catalog | None = None,
    worker: SmokeWorker | None = None,
) -> Generated:
    """Generate project ``name``; nothing is written unless all steps pass.

    ``output`` says what is made and whether it is written (:class:`~plugscaffold.options.Output`):
    model.py and the answers file (RENDER, WRITE) or the training project around them, train.py,
    data.py, tests, README (RENDER_PROJECT, WRITE_PROJECT). Every file is in
    ``Generated.contents``; the WRITE members also write them to a new folder ``parent/name``,
    or over an existing one with ``replace`` (``new --force``; a ValueError with a RENDER member).
    ``smoke`` runs the check: without a size in ``check`` at the smallest input that exercises
    every stage (:func:`plugscaffold.plan.fit_check`), or for a project at PROJECT_SIZE.
    ``worker``, a SmokeWorker started earlier (the CLI starts one before it parses options),
    runs the check; one is started here otherwise. It is closed either way.
    """
    if replace and not output.writes:
        raise ValueError(f"replace=True needs an output that writes (Output.WRITE...), not {output}")
    catalog = catalog or load_catalog()
    spec = make_spec(catalog, name, options)
    plan = make_plan(spec, catalog)
    if output.project:
        check_task(plan)  # before the check: a model the project templates cannot train
    if output.project and not check.sized:  # a training project is checked at the size it trains at
        check = dataclasses.replace(check, height=PROJECT_SIZE, width=PROJECT_SIZE)
    check = fit_check(plan, check)
    target = check_target(Path(parent), name, replace) if output.writes else None
    result = None
    # The check's subprocess imports torch while this process renders.
    if smoke and worker is None:
        worker = SmokeWorker()
    with staging(target.parent if target else None) as stage, worker or nullcontext():
        source = render_model(plan, catalog)
        if smoke:
            (stage / "model.py").write_text(source, encoding="utf-8")
            baseline = _baseline(spec, catalog)
            result = worker.run(stage / "model.py", plan, check, baseline)
            source = with_parameters(source, result.parameters)
        record = project_record(check, result) if output.project else None
        contents = {"model.py": source}
        if output.project:
            contents.update(project_files(plan, catalog, result, check))
        data = answers(plan, catalog, result.parameters if result else None, record)
        contents.update(record_generated(data, contents))  # what update merges against
        files = commit(stage, target, contents, replace=replace) if target is not None else []
    return Generated(plan=plan, source=source, smoke=result, check=check, contents=contents, files=files)


def _baseline(spec: Spec, catalog: Catalog) -> str | None:
    """The source of the default model of the same architecture and size, for the comparison."""
    kept = {o.name for o in blueprints.get(spec.arch).options if o.baseline}
    sizes = {"arch": spec.arch, **{k: v for k, v in spec.sizes if k in kept}}
    base = make_spec(catalog, "baseline", sizes)  # one name, so that every project shares its figures
    if base.options() == spec.options():
        return None
    return render_model(make_plan(base, catalog), catalog)
