"""Copy plug-in classes from ``plugscaffold/modules/*.py`` into generated code.

Each module file holds imports, then top-level classes and functions. ``collect``
returns the definitions a set of names needs (dependencies first, each once) and the
import lines they use, so the emitted file is standalone. Reading is done with ``ast``:
nothing here imports torch.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from . import cache
from .resources import MODULES_DIR

#: The layout of a cached index entry; part of its key.
INDEX_FORMAT = "inline index v1"
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
    entry, read back as the same Definitions (tested).
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
                    source=_segment(lines, node),
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
                source=_segment(lines, node),
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


def _segment(lines: list[str], node: ast.stmt) -> str:
    """The source of a top-level ``node``, as ``ast.get_source_segment`` gives it, without
    splitting the file again for every definition."""
    last = lines[node.end_lineno - 1].encode("utf-8")[: node.end_col_offset].decode("utf-8")
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
    """Sources (leaf first) and import lines for ``names``.

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
        if name not in defs:
            raise KeyError(f"no plug-in source defines '{name}'")
        uses, bound = defs[name].uses, defs[name].bindings
        if name in provided:
            uses = frozenset(n.id for n in ast.walk(ast.parse(provided[name])) if isinstance(n, ast.Name))
        for dep in sorted(uses):
            if dep != name and (dep in defs or dep in provided):
                visit(dep, trail + (name,))
        imports.update(line for n, line in bound.items() if n in uses)
        order.append(name)

    for name in names:
        visit(name, ())
    sources = [provided[n] if n in provided else defs[n].source for n in order]
    return sources, sort_imports(imports)


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
