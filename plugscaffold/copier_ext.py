"""The Jinja extension behind this repository's copier template (copier.yml).

``copier copy --trust`` loads it (``_jinja_extensions`` is one of copier's unsafe
features, hence ``--trust``). The template's files are one call each to
``plugscaffold_file(path)``, which runs the same pipeline as ``plugscaffold new``
(Spec -> Plan -> render -> smoke), so both produce the same bytes. Validators call
``plugscaffold_check``, which returns the CLI's one-line error, or '' when valid.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from jinja2 import pass_context
from jinja2.ext import Extension

from . import blueprints
from .catalog import Catalog, load_catalog
from .choice import resolve_choice
from .errors import PlugscaffoldError
from .spec import PLACED_SLOT, make_spec


@lru_cache(maxsize=1)
def _catalog() -> Catalog:
    return load_catalog()


def copier_options(answers: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    """CLI-style options from copier answers (``up`` + ``up_params`` -> ``up:KEY=VALUE``).

    Only the options and slots of the chosen architecture are read: copier keeps the
    defaults of the questions it skipped for it."""
    blueprint = blueprints.get(answers.get("arch") or blueprints.default_arch())
    keys = ("arch", *(o.name for o in blueprint.options))
    options: dict[str, Any] = {k: answers[k] for k in keys if answers.get(k) is not None}
    for slot in catalog.slots:
        value = answers.get(slot)
        if slot not in blueprint.slots:
            continue
        if value is None:
            continue
        params = answers.get(f"{slot}_params") or ""
        if slot == PLACED_SLOT:
            options[slot] = [p.strip() for p in str(value).split(";") if p.strip()]
        else:
            options[slot] = f"{value}:{params}" if params else str(value)
    return options


@lru_cache(maxsize=4)
def _generate(name: str, frozen: tuple, size: str, smoke: bool, project: bool):
    from .options import Check, Output, parse_size
    from .pipeline import generate

    check = Check(*parse_size(size)) if size.strip() else Check()  # empty: as new without --size
    output = Output.RENDER_PROJECT if project else Output.RENDER  # copier writes the files
    return generate(name, dict(frozen), output=output, check=check, smoke=smoke, catalog=_catalog())


@pass_context
def plugscaffold_file(context: Any, path: str) -> str:
    """The text of one project file, generated from the answers in ``context``."""
    options = copier_options(context, _catalog())
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))
    gen = _generate(
        context["name"],
        frozen,
        str(context.get("size") or ""),
        bool(context.get("smoke", True)),
        bool(context.get("project", False)),
    )
    return gen.contents[path]


@pass_context
def plugscaffold_check(context: Any, what: str) -> str:
    """'' when the answers so far are valid for ``what``; else the CLI's one-line message."""
    catalog = _catalog()
    try:
        if what == "name":
            make_spec(catalog, str(context.get("name")), {})
        elif what in catalog.slots and what != PLACED_SLOT:
            params = context.get(f"{what}_params") or ""
            value = context.get(what)
            resolve_choice(catalog, what, f"{value}:{params}" if params else str(value), f"--{what}")
        else:  # the whole model: sizes, compositions, channel constraints
            from .blueprints import make_plan

            make_plan(make_spec(catalog, str(context.get("name")), copier_options(context, catalog)), catalog)
    except PlugscaffoldError as exc:
        return str(exc)
    return ""


def plugscaffold_has_params(slot: str, name: str) -> bool:
    """Whether ``name`` in ``slot`` has hyper-parameters (for conditional questions)."""
    try:
        entry = _catalog().lookup(slot, str(name))
    except PlugscaffoldError:
        return False
    return bool(entry and entry.params)


class PlugscaffoldExtension(Extension):
    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        environment.globals.update(
            plugscaffold_file=plugscaffold_file,
            plugscaffold_check=plugscaffold_check,
            plugscaffold_has_params=plugscaffold_has_params,
        )
