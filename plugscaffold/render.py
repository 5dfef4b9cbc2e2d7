"""Plan -> source text: the architecture's Jinja template, inlined plug-ins, black.

Pure string in, string out; no files, no torch.
"""

from __future__ import annotations

from functools import lru_cache

import black
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from . import __version__, inline
from .catalog import Catalog, Entry
from .plan import Hook, Plan, chosen_plugins
from .resources import TEMPLATES_DIR

BASE_IMPORTS = ("import torch", "import torch.nn as nn")
UNCOUNTED = "Parameters: not counted (generated with --no-smoke)"


@lru_cache(maxsize=None)
def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_model(plan: Plan, catalog: Catalog, parameters: int | None = None) -> str:
    """The complete, black-formatted model.py for ``plan``."""
    hooks = {
        hook.name: inline.hook_source(hook.name, hook.code, _hook_doc(hook, catalog)) for hook in plan.hooks
    }
    sources, imports = inline.collect(plan.class_names, provided=hooks)
    imports = inline.sort_imports([*imports, *BASE_IMPORTS])
    text = (
        environment()
        .get_template(f"{plan.spec.arch}/model.py.jinja")
        .render(
            project=plan.spec.name,
            plan=plan,
            version=__version__,
            catalog_version=catalog.version,
            command=plan.spec.command(catalog),
            parameters=UNCOUNTED,
            plugins=[_plugin_line(entry) for entry in chosen_plugins(plan, catalog)],
            imports=imports,
            sources=sources,
        )
    )
    return with_parameters(format_code(text), parameters)


def with_parameters(source: str, parameters: int | None) -> str:
    """Put the measured parameter count into a rendered model's header docstring.

    The header line is plain docstring text, which black leaves alone, so filling it in
    after formatting gives the same bytes as rendering with the count and saves a pass.
    """
    if parameters is None:
        return source
    return source.replace(UNCOUNTED, f"Parameters: {parameters:,}", 1)


def _plugin_line(entry: Entry) -> str:
    """'slot name: title (authors, venue year) link', then the licence of the code it follows,
    for the header docstring."""
    cited = f" ({entry.citation})" if entry.citation else ""
    link = f" {entry.link}" if entry.link else ""
    return f"{entry.slot} {entry.name}: {entry.title}{cited}{link}\n        licence: {entry.license}"


def _hook_doc(hook: Hook, catalog: Catalog) -> str:
    what = catalog.slots[hook.entry.slot].help
    return f"{what[0].upper()}{what[1:]} (--{hook.entry.slot} {hook.entry.name}): {hook.entry.title}."


def format_code(text: str) -> str:
    """black with its default style (line length 88)."""
    return black.format_str(text, mode=black.Mode())
