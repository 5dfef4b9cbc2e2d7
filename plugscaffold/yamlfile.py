"""Reading YAML files a user can edit (answers, homework specs, catalogs), safely.

Every YAML read in plugscaffold goes through :func:`read_yaml` (or :func:`load_yaml` for
text already in memory). Besides ``yaml.safe_load``'s guarantees it bounds what a hostile
or corrupted file can cost: its size, its nesting depth, and the number of values it
expands to through aliases (a "billion laughs" alias bomb is rejected while still a small
graph of nodes, before anything walks or prints it). Every failure is one line naming the
file, raised as the caller's error class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

#: Largest YAML file read (bytes); answers files and homework specs are a few KB.
MAX_BYTES = 1_000_000
#: Most values (scalars, lists, mappings) a document may expand to, aliases expanded.
MAX_VALUES = 200_000
#: Deepest nesting of lists and mappings.
MAX_DEPTH = 64

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


def read_yaml(
    path: str | Path,
    *,
    error: type[Exception] = SpecError,
    fix: str = "",
    max_bytes: int = MAX_BYTES,
    loader: type = SafeLoader,
) -> Any:
    """The data of the YAML file at ``path``; ``error(one line)`` when it cannot be read.

    ``fix`` ends each message (e.g. "restore it from version control").
    """
    path = Path(path)
    tail = f"; {fix}" if fix else ""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except IsADirectoryError:
        raise error(f"{path} is a directory, not a YAML file{tail}") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}{tail}") from None
    if len(raw) > max_bytes:
        raise error(f"{path} is larger than {max_bytes:,} bytes, too large for this kind of file{tail}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}){tail}"
        ) from None
    return load_yaml(text, str(path), error=error, fix=fix, loader=loader)


def load_yaml(
    text: str, where: str, *, error: type[Exception] = SpecError, fix: str = "", loader: type = SafeLoader
) -> Any:
    """Parse ``text`` (named ``where`` in messages) with the limits of :func:`read_yaml`."""
    tail = f"; {fix}" if fix else ""
    parser = loader(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        problem = _too_big(node)
        if problem:
            raise error(f"{where} {problem}{tail}")
        return parser.construct_document(node)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        first += f" at line {mark.line + 1}" if mark is not None else ""
        raise error(f"{where} is not valid YAML ({first}){tail}") from None
    finally:
        parser.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _too_big(root: yaml.Node) -> str:
    """'' when the node graph is within the limits, else what is wrong (without expanding it)."""
    sizes: dict[int, int] = {}  # expanded size of each finished node, shared nodes counted once each
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_VALUES:
                return f"expands to more than {MAX_VALUES:,} values through aliases (an alias bomb?)"
            continue
        if key in sizes:
            continue
        if key in on_path:
            return "contains a recursive alias (a value that includes itself)"
        if depth > MAX_DEPTH:
            return f"nests lists or mappings deeper than {MAX_DEPTH} levels"
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node) if id(child) not in sizes)
    return ""
