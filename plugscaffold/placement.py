"""The composition grammar for attention placements (``--attn``).

    EXPR[@POSITION,...]         where to put it (default: enc,bottleneck,dec)
    expr     := serial ['^' [MERGE]]        residual: x + f(x), or MERGE(f(x), x)
    serial   := parallel ('+' parallel)*    serial: a then b
    parallel := atom ('/' atom)* ['~' MERGE] parallel: sum, or ~cat, or ~FUSION
    atom     := NAME[:KEY=VALUE,...] | '(' expr ')'

``se+cbam`` chains SE then CBAM; ``se/cbam`` sums the two on the same input;
``se/cbam~aff`` merges them with the AFF fusion module; ``se+cbam^`` adds the input
back; ``msca@down`` puts MSCA after every downsampling. None of these needs shell
quoting; parentheses (for nesting) do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Union

from .catalog import NONE, Catalog
from .choice import resolve_choice
from .errors import SpecError, did_you_mean

#: Merges of a parallel group that are not catalog modules.
BUILTIN_MERGES = ("sum", "cat")

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z0-9_]+(?::[^+/~^()@]*)?)|(?P<op>[+/~^()]))")


@dataclass(frozen=True)
class Leaf:
    name: str  # attn entry name
    text: str  # canonical NAME[:KEY=VALUE,...]


@dataclass(frozen=True)
class Merge:
    """How branches (or a residual) are joined: 'sum', 'cat', or a skip-slot fusion."""

    name: str
    text: str


@dataclass(frozen=True)
class SerialTerm:
    """a+b: a then b; emitted as the nn.Module ``Serial``."""

    steps: tuple[Term, ...]
    module: ClassVar[str] = "Serial"


@dataclass(frozen=True)
class ParallelTerm:
    """a/b: both on the same input, merged; emitted as the nn.Module ``Parallel``."""

    branches: tuple[Term, ...]
    merge: Merge
    module: ClassVar[str] = "Parallel"


@dataclass(frozen=True)
class ResidualTerm:
    """a^: the input added back (or merged); emitted as the nn.Module ``Residual``."""

    body: Term
    merge: Merge | None  # None: plain addition
    module: ClassVar[str] = "Residual"


#: A parsed attention expression (a term of the grammar).
Term = Union[Leaf, SerialTerm, ParallelTerm, ResidualTerm]


@dataclass(frozen=True)
class Placement:
    expr: Term
    positions: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"{render(self.expr)}@{','.join(self.positions)}"


def render(node: Term) -> str:
    """Canonical text of ``node`` (parses back to the same tree)."""
    if isinstance(node, Leaf):
        return node.text
    if isinstance(node, SerialTerm):
        return "+".join(_wrap(s, (ResidualTerm,)) for s in node.steps)
    if isinstance(node, ParallelTerm):
        merge = "" if node.merge.name == "sum" else f"~{node.merge.text}"
        return "/".join(_wrap(b, (SerialTerm, ParallelTerm, ResidualTerm)) for b in node.branches) + merge
    return render(node.body) + "^" + (node.merge.text if node.merge else "")


def _wrap(node: Term, kinds: tuple[type, ...]) -> str:
    return f"({render(node)})" if isinstance(node, kinds) else render(node)


def parse_placement(
    text: str, catalog: Catalog, positions: dict[str, str], default: tuple[str, ...]
) -> Placement | None:
    """Parse one ``--attn`` value; None for 'none'."""
    body, at, where = str(text).partition("@")
    if body.strip() == NONE and not at:
        return None
    chosen = tuple(p.strip() for p in where.split(",")) if at else default
    for position in chosen:
        if position not in positions:
            raise SpecError(
                f"--attn {text}: unknown position '{position}'{did_you_mean(position, positions)}; "
                f"positions: {', '.join(positions)}"
            )
    if len(set(chosen)) != len(chosen):
        raise SpecError(f"--attn {text}: a position is given twice")
    return Placement(_Parser(body, text, catalog).parse(), chosen)


class _Parser:
    def __init__(self, body: str, text: str, catalog: Catalog) -> None:
        self.text, self.catalog, self.pos = text, catalog, 0
        self.tokens: list[tuple[str, str]] = []
        index = 0
        body = body.rstrip()
        while index < len(body):
            match = _TOKEN.match(body, index)
            if not match or match.end() == index:
                raise SpecError(
                    f"--attn {text}: unexpected '{body[index:].strip()[:1]}' at character {index + 1}; "
                    f"{USAGE}"
                )
            kind = "name" if match.group("name") else "op"
            self.tokens.append((kind, match.group(kind)))
            index = match.end()

    def parse(self) -> Term:
        if not self.tokens:
            raise SpecError(f"--attn is empty; {USAGE}")
        node = self.expr()
        if self.pos != len(self.tokens):
            raise SpecError(f"--attn {self.text}: unexpected '{self.tokens[self.pos][1]}'; {USAGE}")
        return node

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise SpecError(f"--attn {self.text}: the expression ends too early; {USAGE}")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expr(self) -> Term:
        node = self.serial()
        if self.peek() == "^":
            self.take()
            merge = (
                self.merge(builtin=False)
                if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "name"
                else None
            )
            node = ResidualTerm(node, merge)
        return node

    def serial(self) -> Term:
        steps = [self.parallel()]
        while self.peek() == "+":
            self.take()
            steps.append(self.parallel())
        return steps[0] if len(steps) == 1 else SerialTerm(tuple(steps))

    def parallel(self) -> Term:
        branches = [self.atom()]
        while self.peek() == "/":
            self.take()
            branches.append(self.atom())
        merge = Merge("sum", "sum")
        if self.peek() == "~":
            self.take()
            merge = self.merge(builtin=True)
            if len(branches) == 1:
                raise SpecError(
                    f"--attn {self.text}: '~{merge.text}' merges parallel branches (a/b~{merge.text})"
                )
        return branches[0] if len(branches) == 1 else ParallelTerm(tuple(branches), merge)

    def atom(self) -> Term:
        kind, value = self.take()
        if value == "(":
            node = self.expr()
            if self.peek() != ")":
                raise SpecError(f"--attn {self.text}: missing ')'")
            self.take()
            return node
        if kind != "name":
            raise SpecError(f"--attn {self.text}: expected a module name before '{value}'; {USAGE}")
        return Leaf(*self.choice(value, "attn"))

    def merge(self, builtin: bool) -> Merge:
        kind, value = self.take()
        if kind != "name":
            raise SpecError(f"--attn {self.text}: expected a merge after '~' or '^'; {USAGE}")
        if builtin and value in BUILTIN_MERGES:
            return Merge(value, value)
        return Merge(*self.choice(value, "skip"))

    def choice(self, value: str, slot: str) -> tuple[str, str]:
        entry, _, text = resolve_choice(self.catalog, slot, value, f"--attn {self.text}")
        if entry is None:
            raise SpecError(f"--attn {self.text}: 'none' cannot be part of a composition")
        return entry.name, text


USAGE = (
    "write e.g. se, se+cbam (serial), se/cbam (parallel, summed), se/cbam~cat, se+cbam^ (residual), msca@down"
)
