"""Copy plug-in classes from ``plugscaffold/modules/*.py`` into generated code.

Each module file holds imports, then top-level classes and functions. ``collect``
returns the definitions a set of names needs (dependencies first, each once) and the
import lines they use, so the emitted file is standalone. Reading is done with ``ast``:
nothing here imports torch.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from . import cache
from .resources import MODULES_DIR

#: The layout of a cached index entry; part of its key.
INDEX_FORMAT = "inline index v3 (sources fitted to 88 columns, last-line comments kept)"
#: Canonical order of the import lines an emitted file may contain.
IMPORT_ORDER = ("math", "typing", "torch", "nn", "F")


@dataclass(frozen=True)
class Definition:
    name: str
    file: str
    source: str
    uses: frozenset[str]
    bindings: Mapping[str, str]  # local name -> import line, for every import of its file


@lru_cache(maxsize=None)
def index(directory: Path = MODULES_DIR) -> Mapping[str, Definition]:
    """Every top-level class/function of the module files, by name (names are unique).

    Parsing every module file is most of the time generation takes, so the index is cached
    (cache.py) under the hash of the files' names and texts: any change to a file is a new
    entry, read back as the same Definitions (tested). Each source is stored as emitted:
    with its comments and docstrings fitted to black's line length (:func:`fit_width`).
    """
    texts = {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(directory.glob("*.py"))
        if path.name != "__init__.py"
    }
    name = cache.key(INDEX_FORMAT, *(part for item in texts.items() for part in item))
    stored = cache.read("inline", name)
    if stored is not None:
        try:
            return {
                d["name"]: Definition(d["name"], d["file"], d["source"], frozenset(d["uses"]), d["bindings"])
                for d in json.loads(stored)
            }
        except (ValueError, KeyError, TypeError):
            pass  # not what this version writes: parse again
    found = _parse_index(texts)
    entries = [
        {
            "name": d.name,
            "file": d.file,
            "source": d.source,
            "uses": sorted(d.uses),
            "bindings": dict(d.bindings),
        }
        for d in found.values()
    ]
    cache.write("inline", name, json.dumps(entries))
    return found


def _parse_index(texts: Mapping[str, str]) -> dict[str, Definition]:
    found: dict[str, Definition] = {}
    for filename, text in texts.items():
        path = Path(filename)
        tree = ast.parse(text, filename=str(path))
        lines = text.splitlines(keepends=True)
        bound = _import_bindings(tree)
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                if node.name in found:
                    raise ValueError(
                        f"modules/{path.name} redefines {node.name} from modules/{found[node.name].file}"
                    )
                uses = frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
                found[node.name] = Definition(
                    name=node.name,
                    file=path.name,
                    source=fit_width(_segment(lines, node)),
                    uses=uses,
                    bindings=bound,
                )
    return found


#: Definitions of user modules (``plugscaffold add``), registered as their catalogs load.
_USER: dict[str, Definition] = {}


def definitions(path: Path, text: str | None = None) -> dict[str, Definition]:
    """Every top-level class/function of one file, by name."""
    text = path.read_text(encoding="utf-8") if text is None else text
    tree = ast.parse(text, filename=str(path))
    lines = text.splitlines(keepends=True)
    bound = _import_bindings(tree)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            found[node.name] = Definition(
                name=node.name,
                file=str(path),
                source=fit_width(_segment(lines, node)),
                uses=frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name)),
                bindings=bound,
            )
    return found


def needed(defs: Mapping[str, Definition], names: Iterable[str]) -> list[str]:
    """``names`` and the definitions of ``defs`` they use, dependencies first."""
    order: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in order or name in trail or name not in defs:
            return
        for dep in sorted(defs[name].uses):
            if dep != name:
                visit(dep, trail + (name,))
        order.append(name)

    for name in names:
        visit(name, ())
    return order


def user_clashes(
    path: Path, classes: Iterable[str], text: str | None = None, replacing: Path | None = None
) -> list[str]:
    """Names that a user file's ``classes`` need and that a shipped module (or another user
    module, with other code) also defines: inlined into one file, they would collide.
    ``replacing``: a user module file whose definitions do not count (it is being updated)."""
    defs = definitions(path, text)
    taken = {**index(), **{n: d for n, d in _USER.items() if d.file != str(replacing)}}
    return [
        name for name in needed(defs, classes) if name in taken and taken[name].source != defs[name].source
    ]


def add_user_source(path: Path, classes: Iterable[str]) -> None:
    """Make a user module's classes (and what they use from their file) available to collect."""
    classes = list(classes)
    defs = definitions(path)
    missing = [name for name in classes if name not in defs]
    if missing:
        raise ValueError(f"{path} defines no class {missing[0]}")
    clashes = user_clashes(path, classes)
    if clashes:
        raise ValueError(f"{path} defines {clashes[0]}, as another module does; rename it in one of them")
    for name in needed(defs, classes):
        _USER.setdefault(name, defs[name])


def definition(name: str) -> Definition:
    """The definition called ``name``: a shipped module's, or a user module's (KeyError if none)."""
    return _USER[name] if name in _USER else index()[name]


def clear_user_sources() -> None:
    _USER.clear()


def splice(source: str, replacements: Iterable[tuple[ast.stmt, str]]) -> str:
    """``source`` with top-level statements replaced: each (node, text) pair, the node from
    ``ast.parse(source)``, puts ``text`` ('' deletes) where the node's lines were, decorators
    included. The one way the package edits a definition in a file."""
    lines = source.splitlines(keepends=True)
    for node, text in sorted(replacements, key=lambda pair: pair[0].lineno, reverse=True):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        lines[start : node.end_lineno] = [text] if text else []
    return "".join(lines)


def _segment(lines: list[str], node: ast.stmt) -> str:
    """The source of a top-level ``node``, as ``ast.get_source_segment`` gives it (without
    splitting the file again for every definition), and a comment that ends its last line."""
    encoded = lines[node.end_lineno - 1].encode("utf-8")
    last = encoded[: node.end_col_offset].decode("utf-8")
    rest = encoded[node.end_col_offset :].decode("utf-8").rstrip("\r\n")
    if rest.strip().startswith("#"):  # `return y  # ReLU`: the comment belongs to the code
        last += rest
    return "".join(lines[node.lineno - 1 : node.end_lineno - 1]) + last


def _import_bindings(tree: ast.Module) -> dict[str, str]:
    """Local name -> canonical import line, for absolute imports (relative ones are inlined)."""
    bound = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                line = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                bound[local] = line
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"from {node.module} import {alias.name}"
    return bound


def collect(names: Iterable[str], provided: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Sources and import lines for ``names``, in reading order: ``names`` in the order
    given, each after the definitions it uses, which come in the order its code first
    mentions them (DoubleConv's hooks as conv, norm, act), each once.

    ``provided`` maps names to replacement sources (hooks generated from the Plan):
    those are emitted instead of the module files' defaults, and their own
    dependencies are followed the same way.
    """
    defs = {**index(), **_USER}
    provided = dict(provided or {})
    order: list[str] = []
    imports: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in order or name in trail:
            return
        if name not in defs and name not in provided:
            raise KeyError(f"no plug-in source defines '{name}'")
        uses, bound, source = (
            (defs[name].uses, defs[name].bindings, defs[name].source)
            if name in defs
            else (frozenset(), {}, "")
        )
        if name in provided:
            source = provided[name]
            uses = frozenset(n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name))
        deps = [dep for dep in uses if dep != name and (dep in defs or dep in provided)]
        for dep in sorted(deps, key=lambda dep: (_first_use(source, dep), dep)):
            visit(dep, trail + (name,))
        imports.update(line for n, line in bound.items() if n in uses)
        order.append(name)

    for name in names:
        visit(name, ())
    sources = [fit_width(provided[n]) if n in provided else defs[n].source for n in order]
    return sources, sort_imports(imports)


#: The line length of emitted code (black's default), which comments and docstrings keep too.
WIDTH = 88


@lru_cache(maxsize=1024)
def fit_width(source: str, width: int = WIDTH) -> str:
    """``source`` with comments and docstrings that run past ``width`` columns re-wrapped.

    The module files are written at the package's line length; emitted code is read at
    black's. black wraps code but never comments or docstrings, so this does, before black
    runs: a long trailing comment moves above its line, a block of full-line comments and
    a paragraph of a docstring with a long line are re-filled (at their own indentation).
    """
    lines = source.splitlines(keepends=True)
    if all(len(line.rstrip("\n")) <= width for line in lines):
        return source
    edits: list[tuple[int, int, list[str]]] = []  # (first line, end line, replacement), 0-based
    for first, end, indent in _docstrings(source):
        if any(len(line.rstrip("\n")) > width for line in lines[first:end]):
            edits.append((first, end, _refill_docstring(lines[first:end], indent, width)))
    taken = {i for first, end, _ in edits for i in range(first, end)}
    for row, col, text in _comments(source):
        if row in taken or len(lines[row].rstrip("\n")) <= width:
            continue
        line = lines[row]
        if line[:col].strip():  # a trailing comment: on its own line above, at the line's indent
            indent = len(line) - len(line.lstrip())
            code = line[:col].rstrip() + "\n"
            edits.append((row, row + 1, _fill_comment(text, indent, width) + [code]))
        else:
            edits.append((row, row + 1, _fill_comment(text, col, width)))
        taken.add(row)
    for first, end, replacement in sorted(edits, reverse=True):
        lines[first:end] = replacement
    return "".join(lines)


def _docstrings(source: str) -> list[tuple[int, int, int]]:
    """(first line, end line, indent) of every docstring in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            doc = node.body[0]
            if (
                isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                found.append((doc.lineno - 1, doc.end_lineno, doc.col_offset))
    return found


def _comments(source: str) -> list[tuple[int, int, str]]:
    """(line, column, text after '#') of every comment in ``source``."""
    import io
    import tokenize

    return [
        (tok.start[0] - 1, tok.start[1], tok.string[1:].strip())
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    ]


def _fill_comment(text: str, indent: int, width: int) -> list[str]:
    import textwrap

    prefix = " " * indent + "# "
    wrapped = textwrap.wrap(text, width - len(prefix), break_long_words=False, break_on_hyphens=False)
    return [prefix + part + "\n" for part in wrapped or [""]]


def _refill_docstring(lines: list[str], indent: int, width: int) -> list[str]:
    """A docstring's lines with each paragraph that has a long line re-filled; a one-line
    docstring that is too long becomes a paragraph with the closing quotes on their own line."""
    import textwrap

    pad = " " * indent
    text = "".join(lines).strip()
    quote = text[:3]
    body = text[3:-3]
    paragraphs = body.split("\n\n")
    out: list[str] = []
    for number, paragraph in enumerate(paragraphs):
        rows = paragraph.split("\n")
        first = pad + quote if number == 0 else pad
        own = [rows[0].strip()] + [row.strip() for row in rows[1:]]
        closing = 3 if number == len(paragraphs) - 1 else 0  # the last row carries the quotes
        lengths = [len(first + rows[0].strip())] + [len(pad + row.strip()) for row in rows[1:]]
        long = max(lengths[:-1] + [lengths[-1] + closing]) > width
        if long and not any(row.lstrip().startswith(("-", "*", ">>>")) for row in rows):
            filled = textwrap.wrap(  # 3 columns to spare: black counts no quotes on one line
                " ".join(own),
                width - 3,
                initial_indent=first,
                subsequent_indent=pad,
                break_long_words=False,
                break_on_hyphens=False,
            )
        else:
            filled = [first + rows[0].strip()] + [
                pad + row.strip() if row.strip() else "" for row in rows[1:]
            ]
        out += filled + ([""] if number < len(paragraphs) - 1 else [])
    if len(out) > 1 or len(out[-1]) + 3 > width:
        out.append(pad + quote)
    else:
        out[-1] += quote
    return [row.rstrip() + "\n" for row in out]


def _first_use(source: str, name: str) -> int:
    """Where ``name`` first appears as a word in ``source`` (its reading order)."""
    found = re.search(rf"(?<![\w.]){re.escape(name)}\b", source)
    return found.start() if found else len(source)


def sort_imports(lines: Iterable[str]) -> list[str]:
    """Standard library first, then torch; ``from M import ...`` lines of one module merged."""
    plain: set[str] = set()
    names: dict[str, set[str]] = {}
    for line in filter(None, lines):
        if line.startswith("from "):
            module, imported = line[len("from ") :].split(" import ", 1)
            names.setdefault(module, set()).update(n.strip() for n in imported.split(","))
        else:
            plain.add(line)
    merged = plain | {f"from {module} import {', '.join(sorted(n))}" for module, n in names.items()}
    order = lambda line: (line.startswith("from "), line)  # noqa: E731 - 'import x' before 'from x import y'
    stdlib = sorted((line for line in merged if not line.split()[1].startswith("torch")), key=order)
    torch_lines = sorted((line for line in merged if line.split()[1].startswith("torch")), key=order)
    return stdlib + ([""] if stdlib and torch_lines else []) + torch_lines


def hook_source(name: str, code: str, doc: str) -> str:
    """The default definition of hook ``name`` with its body replaced by ``return code``."""
    source = index()[name].source
    body_start = ast.parse(source).body[0].body[0].lineno  # the default's docstring
    signature = "\n".join(source.splitlines()[: body_start - 1])
    return f'{signature}\n    """{doc}"""\n    return {code}\n'
