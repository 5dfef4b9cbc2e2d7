"""Flag pairs of submissions whose code for the assignment matches closely (a flag, never a score).

Only what the student wrote is compared: the classes they implement and any top-level
definition their handed-out model.py did not have. Each is normalised: docstrings dropped,
local names (variables, arguments, helpers) renamed in order of first use, so renaming
variables or reordering whitespace and comments changes nothing; attribute names, calls and
constants stay, since they are what an implementation does. Two submissions of the same
modules are compared as token sequences (difflib's ratio); a pair at or above the threshold
is listed for a person to look at.
"""

from __future__ import annotations

import ast
import difflib
import itertools
from pathlib import Path

from .build import Manifest
from .records import ManifestEntry


def tokens(source: str, stub: str, entry: ManifestEntry) -> list[str] | None:
    """The normalised token sequence of the student's own code in ``source``; None if it does not parse."""
    try:
        tree, given = ast.parse(source), ast.parse(stub)
    except SyntaxError:
        return None
    handed_out = {
        ast.dump(n)
        for n in given.body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    }
    own = [
        n
        for n in tree.body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and (n.name in entry.classes or ast.dump(n) not in handed_out)
    ]
    own.sort(
        key=lambda n: (
            n.name not in entry.classes,
            entry.classes.index(n.name) if n.name in entry.classes else 0,
        )
    )
    names: dict[str, str] = {}
    out: list[str] = []
    for node in own:
        out += _walk(node, names)
    return out


def _walk(node: ast.AST, names: dict[str, str]) -> list[str]:
    out = [type(node).__name__]
    body = getattr(node, "body", None)
    skip = None
    if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            skip = body[0]  # a docstring
    if isinstance(node, ast.Name):
        out.append(names.setdefault(node.id, f"v{len(names)}"))
    elif isinstance(node, ast.arg):
        out.append(names.setdefault(node.arg, f"v{len(names)}"))
    elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        out.append(names.setdefault(node.name, f"v{len(names)}"))
    elif isinstance(node, ast.Attribute):
        out.append(node.attr)
    elif isinstance(node, ast.Constant) and not isinstance(node.value, str):
        out.append(repr(node.value))
    elif isinstance(node, ast.keyword):
        out.append(str(node.arg))
    for child in ast.iter_child_nodes(node):
        if child is skip or isinstance(child, (ast.Load, ast.Store, ast.Del)):
            continue
        out += _walk(child, names)
    return out


def ratio(a: list[str], b: list[str]) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def similar_pairs(
    root: Path, submissions: Path, manifest: Manifest, threshold: float
) -> list[tuple[str, str, float]]:
    """Pairs (a, b, similarity) of submissions of the same modules at or above ``threshold``,
    most similar first."""
    seqs: dict[str, tuple[tuple[str, ...], list[str]]] = {}
    for entry in manifest.students:
        path, stub = submissions / entry.id / "model.py", root / "students" / entry.id / "model.py"
        try:
            found = tokens(path.read_text(encoding="utf-8"), stub.read_text(encoding="utf-8"), entry)
        except (OSError, UnicodeDecodeError):
            continue
        if found:
            seqs[entry.id] = (entry.modules, found)
    pairs = []
    for a, b in itertools.combinations(seqs, 2):
        if seqs[a][0] != seqs[b][0]:
            continue
        value = ratio(seqs[a][1], seqs[b][1])
        if value >= threshold:
            pairs.append((a, b, round(value, 3)))
    return sorted(pairs, key=lambda p: -p[2])
