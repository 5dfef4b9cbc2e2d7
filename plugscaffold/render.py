"""Plan -> source text: the architecture's Jinja template, inlined plug-ins, black.

String in, string out; no torch. The emitted file is black-formatted, but black runs on its
parts: each inlined source, and the rest of the file (header, imports, the model class) with
a placeholder line where each source goes. Each part's formatted text is cached (cache.py)
under the hash of its text and black's version, so a run formats only what it has not seen
(usually the model class, or nothing), and black is imported only then. The parts put
together are byte for byte what black makes of the whole file (tested over every plug-in).
"""

from __future__ import annotations

import re
import textwrap
from functools import lru_cache

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from . import __version__, blueprints, cache, inline, layout
from .catalog import Catalog, Entry
from .plan import Hook, Plan, chosen_plugins
from .resources import TEMPLATES_DIR

BASE_IMPORTS = ("import torch", "import torch.nn as nn")
UNCOUNTED = "Parameters: not counted (generated with --no-smoke)"
#: Stand-ins for the project's name and command in the header docstring while black runs.
NAME_TOKEN = "__plugscaffold_project_name__"
COMMAND_TOKEN = "__plugscaffold_project_command__"


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
    skeleton, sources, fills = _parts(plan, catalog)
    return with_parameters(_fill(assemble(skeleton, sources), fills), parameters)


def unformatted(plan: Plan, catalog: Catalog) -> str:
    """The whole model.py before black: ``format_code`` of it is ``render_model``'s text."""
    skeleton, sources, fills = _parts(plan, catalog)
    text = _PLACEHOLDER.sub(lambda m: sources[int(m.group(1))].rstrip("\n") + "\n", skeleton)
    return _fill(text, fills)


def _fill(text: str, fills: dict[str, str]) -> str:
    """The project's name and command in place of their tokens, then the header docstring's
    long lines wrapped (black leaves docstring text as it is, so this comes after it)."""
    for token, value in fills.items():
        text = text.replace(token, value)
    return wrap_header(text)


def wrap_header(text: str, width: int = inline.WIDTH) -> str:
    """``text`` with the lines of its module docstring wrapped at ``width`` columns: the
    regenerate command continues shell-style (`` \\``), other lines at their indentation
    (the plug-in lines 4 columns deeper)."""
    if not text.startswith('"""'):
        return text
    end = text.find('"""', 3)
    head, rest = text[:end], text[end:]
    if all(len(line) <= width for line in head.splitlines()):
        return text
    out = []
    for line in head.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip())
        pad = " " * indent
        if line.lstrip().startswith("plugscaffold "):  # the command: still one to paste
            parts = [""]
            room = width - indent - 6
            for option in re.split(r" (?=--)", line.strip()):  # an option stays with its value
                if len(option) > room and " " in option:  # unless together they cannot fit
                    parts += option.split(" ", 1)  # a value alone on its row is one word (E501 allows it)
                elif parts[-1] and len(parts[-1]) + 1 + len(option) > room:
                    parts.append(option)
                else:
                    parts[-1] = f"{parts[-1]} {option}".strip()
            rows = [pad + parts[0]] + [pad + "    " + part for part in parts[1:]]
            out += [row + " \\" for row in rows[:-1]] + rows[-1:]
        else:
            deeper = pad + ("    " if indent == 4 else "")
            out += textwrap.wrap(
                line, width, subsequent_indent=deeper, break_long_words=False, break_on_hyphens=False
            )
    return "\n".join(out) + ("\n" if head.endswith("\n") else "") + rest


def _docstring_text(value: str) -> bool:
    """Whether black leaves ``value`` alone inside a docstring line: no quotes, backslashes,
    tabs or line breaks, and no whitespace at either end (black strips trailing whitespace)."""
    return value == value.strip() and not any(c in value for c in '"\\\t\r\n')


def _parts(plan: Plan, catalog: Catalog) -> tuple[str, list[str], dict[str, str]]:
    """The template rendered with a placeholder for each inlined source, the sources, and the
    values of the tokens that stand for the project's name and command in the header
    docstring (black leaves that text alone, so the formatted rest serves every name)."""
    hooks = {
        hook.name: inline.hook_source(hook.name, hook.code, _hook_doc(hook, catalog)) for hook in plan.hooks
    }
    plan, names, builders = layout.arrange(plan)  # reading order, short calls (layout.py)
    sources, imports = inline.collect(names, provided={**hooks, **builders})
    imports = inline.sort_imports([*imports, *BASE_IMPORTS, *plan.extra.get("imports", ())])
    header = {NAME_TOKEN: plan.spec.name, COMMAND_TOKEN: plan.spec.command(catalog)}
    fills = {token: value for token, value in header.items() if _docstring_text(value)}
    skeleton = (
        environment()
        .get_template(blueprints.get(plan.spec.arch).template)
        .render(
            project=NAME_TOKEN if NAME_TOKEN in fills else header[NAME_TOKEN],
            plan=plan,
            version=__version__,
            catalog_version=catalog.version,
            command=COMMAND_TOKEN if COMMAND_TOKEN in fills else header[COMMAND_TOKEN],
            parameters=UNCOUNTED,
            plugins=[_plugin_line(entry) for entry in chosen_plugins(plan, catalog)],
            imports=imports,
            sources=[_placeholder(i) for i in range(len(sources))],
        )
    )
    return skeleton, sources, fills


def _placeholder(index: int) -> str:
    """A function standing for inlined source ``index``: black spaces it as any definition."""
    return f"def __plugscaffold_source_{index}():\n    pass"


_PLACEHOLDER = re.compile(r"^def __plugscaffold_source_(\d+)\(\):\n    pass\n", re.MULTILINE)


def assemble(skeleton: str, sources: list[str]) -> str:
    """black's formatting of ``skeleton`` with each placeholder replaced by its source: each
    part is formatted on its own (and cached), then the placeholders are filled in."""
    formatted = format_cached(skeleton)
    parts = [format_cached(source) for source in sources]
    return _PLACEHOLDER.sub(lambda m: parts[int(m.group(1))], formatted)


def format_cached(text: str) -> str:
    """``format_code(text)``, from the cache when this text was formatted before."""
    name = cache.key("black", cache.installed_version("black"), text)
    formatted = cache.read("black", name)
    if formatted is None:
        formatted = format_code(text)
        cache.write("black", name, formatted)
    return formatted


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
    user = " (user module)" if entry.is_user else ""
    return (
        f"{entry.slot} {entry.name}{user}: {entry.title}{cited}"
        + (f"\n       {link}" if link else "")
        + f"\n        licence: {entry.license}"
    )


def _hook_doc(hook: Hook, catalog: Catalog) -> str:
    what = catalog.slots[hook.entry.slot].help
    return f"{what[0].upper()}{what[1:]} (--{hook.entry.slot} {hook.entry.name}): {hook.entry.title}."


def format_code(text: str) -> str:
    """black with its default style (line length 88)."""
    import black  # a tenth of a second; only when something new is formatted

    return black.format_str(text, mode=black.Mode())
