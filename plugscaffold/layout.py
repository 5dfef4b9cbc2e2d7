"""How the emitted model.py reads: the order of its definitions and the calls in the model.

- Reading order: the helpers, then for each layer of the model in turn the plug-in classes
  it is the first to use (leaf first, :func:`inline.collect`), then the composition classes
  that wrap them (inner first); the model class comes last (the template).
- A constructor call spells out only the keyword arguments that differ from the class's
  own defaults (``DySample(1024)``, not ``DySample(1024, scale=2, style="lp", ...)``).
- A composition repeated at several stages (``Residual(Serial(se=..., cbam=...))`` at
  every encoder stage) is built by one small function taking the stage's channels.

Text in, text out, from the plug-in sources read with ``ast``; nothing here imports torch.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from . import inline
from .plan import Plan

_NO_DEFAULT = object()


def arrange(plan: Plan) -> tuple[Plan, list[str], dict[str, str]]:
    """``plan`` with its layers' calls tidied, the names to inline in reading order, and the
    sources of the functions that build repeated compositions (by name)."""
    layers = [replace(layer, code=drop_defaults(layer.code)) for layer in plan.layers]
    builders: dict[str, str] = {}
    first: dict[str, str] = {}  # layer attr -> builder it is the first to use
    for name, (template, members) in _repeated(layers).items():
        builders[name] = _builder_source(name, template, [layers[i] for i in members])
        first[layers[members[0]].attr] = name
        for i in members:
            layers[i] = replace(layers[i], code=f"{name}({layers[i].shape.channels})")
    names = list(plan.helpers)
    for layer in layers:
        names += [c for entry in layer.entries for c in entry.classes]
        names += reversed(layer.classes)
        names += [first[layer.attr]] if layer.attr in first else []
    names += plan.class_names  # anything else, after what the layers use
    ordered = list(dict.fromkeys(names))
    return replace(plan, layers=tuple(layers)), ordered, builders


def _repeated(layers: list) -> dict[str, tuple[str, list[int]]]:
    """Compositions that occur at two or more positions and differ only in their channels:
    builder name -> (call with ``channels`` for the number, indices of the layers)."""
    groups: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        if layer.classes:
            template = re.sub(rf"(?<![\w.]){layer.shape.channels}(?![\w.])", "channels", layer.code)
            if (
                "channels" in template
                and template.replace("channels", str(layer.shape.channels)) == layer.code
            ):
                groups.setdefault(template, []).append(i)
    named: dict[str, tuple[str, list[int]]] = {}
    for template, members in groups.items():
        if len(members) < 2:
            continue
        name = re.sub(r"\d+", "", layers[members[0]].attr).strip("_") or "composed"
        if name in named or _defined(name) or not name.isidentifier():
            continue  # two shapes of one name, or a plug-in's name: keep the full calls
        named[name] = (template, members)
    return named


def _builder_source(name: str, template: str, layers: list) -> str:
    where = ", ".join(layer.attr for layer in layers)
    return (
        f"def {name}(channels: int) -> nn.Module:\n"
        f'    """{layers[0].module} on ``channels`` channels (built for {where})."""\n'
        f"    return {template}\n"
    )


def _defined(name: str) -> bool:
    try:
        inline.definition(name)
    except KeyError:
        return False
    return True


def drop_defaults(code: str) -> str:
    """``code`` (one constructor expression) without the keyword arguments that equal the
    called plug-in class's (or function's) own default, compared by type and value."""
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return code
    spans = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        defaults = signature_defaults(node.func.id)
        for kw in node.keywords:
            if kw.arg is not None and _same(_literal(kw.value), defaults.get(kw.arg, _NO_DEFAULT)):
                spans.append((kw.col_offset, kw.end_col_offset))
    for start, end in sorted(spans, reverse=True):
        before = code[:start].rstrip()
        if before.endswith(","):  # ", key=value": drop the comma before it
            code = before[:-1] + code[end:]
        else:  # "(key=value, ...": drop the comma after it
            code = code[:start] + code[end:].lstrip(", ")
    return code


def signature_defaults(name: str) -> Mapping[str, Any]:
    """Argument name -> literal default of class ``name``'s ``__init__`` (or function
    ``name``), for the plug-in sources; {} when there is no such definition."""
    try:
        source = inline.definition(name).source
    except KeyError:
        return {}
    return _defaults(source)


@lru_cache(maxsize=1024)
def _defaults(source: str) -> dict[str, Any]:
    node = ast.parse(source).body[0]
    if isinstance(node, ast.ClassDef):
        inits = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
        if not inits:
            return {}
        node = inits[0]
    if not isinstance(node, ast.FunctionDef):
        return {}
    args = node.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    found = {}
    for arg, default in pairs:
        value = _literal(default)
        if value is not _NO_DEFAULT:
            found[arg.arg] = value
    return found


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return _NO_DEFAULT


def _same(a: Any, b: Any) -> bool:
    return a is not _NO_DEFAULT and b is not _NO_DEFAULT and type(a) is type(b) and a == b
