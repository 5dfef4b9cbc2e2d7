"""The architecture diagram of a training project (README's Mermaid block and
architecture.svg), drawn from the Plan alone: one node per layer, an edge for every tensor a
layer reads, labelled with the producer's level, channels and scale. A layer's first input
is the main path; any further input (a fusion's skip tensor) is drawn as a dashed skip edge.

:func:`plan_graph` makes the graph, :func:`mermaid` writes it as a Mermaid flowchart and
:func:`svg_drawing` lays it out for ``architecture.svg.jinja``. No torch here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any

from .placement import Leaf, ParallelTerm, SerialTerm, Term, render
from .plan import Plan, Shape

#: Box fill per catalog slot in architecture.svg (layers without an entry are grey).
_FILLS = {
    "block": "#e8eef7",
    "down": "#cfe3ff",
    "up": "#d4f0d4",
    "skip": "#ffe2bf",
    "attn": "#f6d5ee",
    "io": "#ffffff",
    None: "#eeeeee",
}


# --- the diagram ------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    id: str
    title: str
    subtitle: str
    level: int
    slot: str | None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    skip: bool


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _scale(level: int) -> str:
    return "1" if level == 0 else f"1/{2**level}"


def edge_label(shape: Shape) -> str:
    """What flows along an edge: its level, channels and scale, e.g. 'L2 · 64 ch · 1/4';
    pooled features and logits: 'pooled · 2048 ch', 'vector · 1000'."""
    if shape.kind == "pooled":
        return f"pooled · {shape.channels} ch"
    if shape.kind == "vector":
        return f"vector · {shape.channels}"
    return f"L{shape.level} · {shape.channels} ch · {_scale(shape.level)}"


def plan_graph(plan: Plan) -> Graph:
    """Nodes (input, every layer, logits) and the edges between them, in forward order."""
    out = plan.output
    nodes = [Node("input", "input", f"(B, {plan.input.channels}, H, W)", plan.input.level, "io")]
    producer: dict[str, tuple[str, Shape]] = {"x": ("input", plan.input)}
    edges: list[Edge] = []
    for layer in plan.layers:
        slot = layer.entries[0].slot if layer.entries else None
        node = layer.attr.replace(".", "_")  # "features.3" inside a container: Mermaid ids take no dots
        nodes.append(Node(node, layer.attr, layer.module, layer.shape.level, slot))
        for i, name in enumerate(layer.inputs):
            source, shape = producer[name]
            edges.append(Edge(source, node, edge_label(shape), skip=i > 0))
        producer.update({name: (node, shape) for name, shape in layer.outputs})
    nodes.append(Node("logits", "logits", out.text, out.level, "io"))
    source, shape = producer[plan.result]
    edges.append(Edge(source, "logits", edge_label(shape), skip=False))
    return Graph(tuple(nodes), tuple(edges))


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(graph: Graph) -> str:
    """A Mermaid ``flowchart`` (GitHub renders it): solid main path, dashed skip edges."""
    lines = ["flowchart TD"]
    for node in graph.nodes:
        label = _mermaid_text(f"{node.title}<br/>{node.subtitle}")
        lines.append(f'    {node.id}(["{label}"])' if node.slot == "io" else f'    {node.id}["{label}"]')
    for edge in graph.edges:
        arrow = "-.->" if edge.skip else "-->"
        lines.append(f'    {edge.source} {arrow}|"{_mermaid_text(edge.label)}"| {edge.target}')
    classes = sorted({n.slot or "other" for n in graph.nodes})
    for name in classes:
        lines.append(f"    classDef {name} fill:{_FILLS.get(name, _FILLS[None])},stroke:#555")
    for name in classes:
        members = ",".join(n.id for n in graph.nodes if (n.slot or "other") == name)
        lines.append(f"    class {members} {name}")
    return "\n".join(lines)


# --- architecture.svg: a U-shaped layout by level ---------------------------------------

_BOX_H, _ROW, _GAP, _MARGIN = 34, 58, 110, 30
_MIN_BOX_W = 150
_TITLE_SIZE, _TITLE_LINE = 15, 20
_LABEL_SIZE, _LEGEND_LINE = 10, 16


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of ``text``'s width in Helvetica/Arial at ``size`` px: no font
    metrics are at hand, and too wide only costs white space, too narrow clips."""
    return len(text) * size * (0.64 if bold else 0.58)


def _wrap(text: str, width: float, size: float) -> list[str]:
    """``text`` in lines no wider than ``width``, broken after ', ' and '; ' (never inside a
    part, so a part wider than ``width`` gets a line of its own)."""
    parts = [p for p in re.split(r"(?<=[,;]) ", text) if p]
    lines: list[str] = []
    for part in parts:
        if lines and _text_width(f"{lines[-1]} {part}", size, bold=True) <= width:
            lines[-1] = f"{lines[-1]} {part}"
        else:
            lines.append(part)
    return lines or [""]


def _describe(node: Term, x: str = "x") -> str:
    """What a composite attention computes, as a formula: 'se+cbam^' -> 'x + cbam(se(x))'."""
    if isinstance(node, Leaf):
        return f"{node.name}({x})"
    if isinstance(node, SerialTerm):
        for step in node.steps:
            x = _describe(step, x)
        return x
    if isinstance(node, ParallelTerm):
        branches = [_describe(branch, x) for branch in node.branches]
        if node.merge.name == "sum":
            return "(" + " + ".join(branches) + ")"
        if node.merge.name == "cat":
            return f"conv1x1(cat[{', '.join(branches)}])"
        return f"{node.merge.name}({', '.join(branches)})"
    body = _describe(node.body, x)
    return f"{node.merge.name}({body}, {x})" if node.merge else f"{x} + {body}"


def attention_legend(plan: Plan) -> list[str]:
    """One line per composite ``--attn`` expression: what it computes."""
    seen: dict[str, str] = {}
    for placement in plan.spec.attn:
        if not isinstance(placement.expr, Leaf):
            seen.setdefault(render(placement.expr), _describe(placement.expr))
    return [f"{text} = {formula}" for text, formula in seen.items()]


def _label_position(
    sx: float, sy: float, ex: float, ey: float, label: str, boxes: list[tuple[float, float, float, float]]
) -> dict[str, Any]:
    """Where an edge's label goes: beside its line, never across it, and clear of the boxes
    where a side allows. Above or below a flat line, right or left of a steep one, moved off
    the midpoint by as much as the line's slope needs over the label's width or height."""
    dx, dy = ex - sx, ey - sy
    mx, my = (sx + ex) / 2, (sy + ey) / 2
    width, height = _text_width(label, _LABEL_SIZE), _LABEL_SIZE
    rise = abs(dy / dx) * width / 2 + 4 if dx else float("inf")
    run = abs(dx / dy) * height / 2 + 6 if dy else float("inf")
    flat = [(mx, my - rise, "middle"), (mx, my + rise + height, "middle")]
    steep = [(mx + run, my + height / 2 - 1, "start"), (mx - run - width, my + height / 2 - 1, "start")]
    candidates = flat + steep if abs(dx) > abs(dy) else steep + flat
    candidates = [c for c in candidates if abs(c[0]) != float("inf") and abs(c[1]) != float("inf")]

    def clear(x: float, y: float, anchor: str) -> bool:
        left = x - width / 2 if anchor == "middle" else x
        return not any(
            left < bx + bw and bx < left + width and y - height < by + bh and by < y + 2
            for bx, by, bw, bh in boxes
        )

    x, y, anchor = next((c for c in candidates if clear(*c)), candidates[0])
    return {"lx": round(x, 1), "ly": round(y, 1), "anchor": anchor}


def svg_drawing(graph: Graph, title: str, legend_lines: list[str], layout: str = "u") -> dict[str, Any]:
    """Boxes, arrows and labels with coordinates for ``architecture.svg.jinja``.

    ``layout`` is the blueprint's diagram: "chain" (a classifier) puts every node in one
    column in forward order. "u" (an encoder/decoder): nodes before the deepest level go
    down the left column (one band of rows per level),
    the nodes at the deepest level sit side by side at the bottom, and the rest go up the
    right column, so the encoder and decoder of a level face each other across the skips.
    Boxes are as wide as their longest text; the title wraps to the drawing's width.
    """
    box_w = _box_width(graph.nodes)
    nodes = _chain(graph.nodes) if layout == "chain" else list(graph.nodes)
    u = _u_shape(nodes)
    frame = _frame(u, box_w, title, legend_lines)  # the columns fix the width, which the title wraps to
    rows = _rows(u)
    centers = _centers(nodes, u, frame, rows)
    boxes = _boxes(nodes, centers, box_w)
    arrows = _arrows(graph.edges, centers, boxes, box_w)
    return _drawing(nodes, title, legend_lines, frame, frame.y(rows.bottom), boxes, arrows)


def _box_width(nodes: tuple[Node, ...]) -> float:
    """One width for every box: the widest title or subtitle, at least :data:`_MIN_BOX_W`."""
    box_w = max(
        [_MIN_BOX_W]
        + [max(_text_width(n.title, 12, bold=True), _text_width(n.subtitle, 10)) + 16 for n in nodes]
    )
    return float(round(box_w))


def _chain(nodes: tuple[Node, ...]) -> list[Node]:
    """A classifier's nodes as one column top to bottom: every node at level 0, the logits
    (the last node) alone below them."""
    column = [Node(n.id, n.title, n.subtitle, 0, n.slot) for n in nodes[:-1]]
    column.append(Node(nodes[-1].id, nodes[-1].title, nodes[-1].subtitle, 1, "io"))
    return column


@dataclass(frozen=True)
class _UShape:
    """The nodes split into the U's parts: down the left column (before the deepest level),
    side by side at the bottom (the first run at the deepest level), up the right column."""

    left: list[Node]
    middle: list[Node]
    right: list[Node]
    deepest: int


def _u_shape(nodes: list[Node]) -> _UShape:
    deepest = max(n.level for n in nodes)
    first = next(i for i, n in enumerate(nodes) if n.level == deepest)
    last = first
    while last + 1 < len(nodes) and nodes[last + 1].level == deepest:
        last += 1
    return _UShape(nodes[:first], nodes[first : last + 1], nodes[last + 1 :], deepest)


@dataclass(frozen=True)
class _Frame:
    """The drawing's horizontal layout (columns, width) and the title above the first row."""

    box_w: float
    left_x: float  # the left column's centre
    right_x: float  # the right column's centre
    middle_x0: float  # the first bottom node's centre
    width: float
    title_lines: list[str]
    top: float  # the first row's top edge

    def y(self, row: int) -> float:
        """The centre of row ``row``."""
        return self.top + _BOX_H / 2 + row * _ROW


def _frame(u: _UShape, box_w: float, title: str, legend_lines: list[str]) -> _Frame:
    """Columns first: they fix the drawing's width (with the title's longest part and the
    legend), which the title then wraps to."""
    middle_width = len(u.middle) * box_w + (len(u.middle) - 1) * _GAP
    left_x = _MARGIN + box_w / 2
    right_x = left_x + max(middle_width + _GAP, 3 * box_w)
    middle_x0 = (left_x + right_x) / 2 - middle_width / 2 + box_w / 2
    label_room = 110  # room right of the right column for edge labels
    legend_room = max([_text_width(line, _LABEL_SIZE) for line in legend_lines] + [0])
    parts = [_text_width(p, _TITLE_SIZE, bold=True) for p in re.split(r"(?<=[,;]) ", title)]
    width = max(right_x + box_w / 2 + label_room, max(parts) + _MARGIN, legend_room + _MARGIN) + _MARGIN
    title_lines = _wrap(title, width - 2 * _MARGIN, _TITLE_SIZE)
    top = _MARGIN + 20 + (len(title_lines) - 1) * _TITLE_LINE
    return _Frame(box_w, left_x, right_x, middle_x0, width, title_lines, top)


@dataclass(frozen=True)
class _Rows:
    """A band of rows per level above the bottom (as many as its nodes on the busier side),
    the first row of each band, and the bottom row (the deepest level's)."""

    bands: dict[int, int]
    first: dict[int, int]
    bottom: int


def _rows(u: _UShape) -> _Rows:
    bands = {}
    for level in range(u.deepest):
        count = max(sum(n.level == level for n in u.left), sum(n.level == level for n in u.right), 1)
        bands[level] = count
    first_row = {}
    row = 0
    for level in range(u.deepest):
        first_row[level] = row
        row += bands[level]
    return _Rows(bands, first_row, row + 1)  # an empty row, so the edges into and out of the bottom have room


def _centers(nodes: list[Node], u: _UShape, frame: _Frame, rows: _Rows) -> dict[str, tuple[float, float]]:
    """Each node's box centre: down the left column by level, across the bottom, and up the
    right column, so that a level's encoder and decoder nodes share rows."""
    centers: dict[str, tuple[float, float]] = {}
    for level in range(u.deepest):
        on_left = [n for n in u.left if n.level == level]
        for i, node in enumerate(on_left):
            centers[node.id] = (frame.left_x, frame.y(rows.first[level] + i))
        on_right = [n for n in u.right if n.level == level]
        for i, node in enumerate(on_right):
            centers[node.id] = (frame.right_x, frame.y(rows.first[level] + rows.bands[level] - 1 - i))
    for i, node in enumerate(u.middle):
        centers[node.id] = (frame.middle_x0 + i * (frame.box_w + _GAP), frame.y(rows.bottom))
    for node in nodes:  # a level that does not fit the U (never in a U-shaped plan): park it at the bottom
        centers.setdefault(node.id, (frame.left_x, frame.y(rows.bottom)))
    return centers


def _boxes(nodes: list[Node], centers: dict[str, tuple[float, float]], box_w: float) -> list[dict[str, Any]]:
    """A box per node: its corner, centre, escaped texts, fill by slot and corner radius."""
    return [
        {
            "x": centers[n.id][0] - box_w / 2,
            "y": centers[n.id][1] - _BOX_H / 2,
            "cx": centers[n.id][0],
            "cy": centers[n.id][1],
            "title": escape(n.title),
            "subtitle": escape(n.subtitle),
            "fill": _FILLS.get(n.slot, _FILLS[None]),
            "round": 14 if n.slot == "io" else 4,
        }
        for n in nodes
    ]


def _arrows(
    edges: tuple[Edge, ...],
    centers: dict[str, tuple[float, float]],
    boxes: list[dict[str, Any]],
    box_w: float,
) -> list[dict[str, Any]]:
    """An arrow per edge, from box border to box border, with its label placed clear of the boxes."""
    rects = [(b["x"], b["y"], box_w, _BOX_H) for b in boxes]
    arrows = []
    for edge in edges:
        (x1, y1), (x2, y2) = centers[edge.source], centers[edge.target]
        sx, sy = _border(x1, y1, x2, y2, box_w)
        ex, ey = _border(x2, y2, x1, y1, box_w)
        arrows.append(
            {
                "x1": round(sx, 1),
                "y1": round(sy, 1),
                "x2": round(ex, 1),
                "y2": round(ey, 1),
                "skip": edge.skip,
                "label": escape(edge.label),
                **_label_position(sx, sy, ex, ey, edge.label, rects),
            }
        )
    return arrows


def _drawing(
    nodes: list[Node],
    title: str,
    legend_lines: list[str],
    frame: _Frame,
    bottom_y: float,
    boxes: list[dict[str, Any]],
    arrows: list[dict[str, Any]],
) -> dict[str, Any]:
    """The template's values: the title lines, the size, the boxes and arrows, and below the
    bottom row the slot legend (only slots present) and the composite-attention notes."""
    present = {n.slot for n in nodes}
    legend = [(slot or "other", fill) for slot, fill in _FILLS.items() if slot != "io" and slot in present]
    legend_y = bottom_y + _BOX_H / 2 + 30
    notes_y = legend_y + 8 + _LEGEND_LINE
    return {
        "title": escape(title),
        "title_lines": [
            {"y": _MARGIN - 6 + i * _TITLE_LINE, "text": escape(line)}
            for i, line in enumerate(frame.title_lines)
        ],
        "width": round(frame.width),
        "height": round(notes_y + len(legend_lines) * _LEGEND_LINE + 4),
        "box_w": frame.box_w,
        "box_h": _BOX_H,
        "boxes": boxes,
        "arrows": arrows,
        "legend": [
            {"x": _MARGIN + i * 95, "y": legend_y, "name": n, "fill": f} for i, (n, f) in enumerate(legend)
        ],
        "notes": [
            {"x": _MARGIN, "y": notes_y + i * _LEGEND_LINE, "text": escape(line)}
            for i, line in enumerate(legend_lines)
        ],
    }


def _border(x: float, y: float, tx: float, ty: float, box_w: float) -> tuple[float, float]:
    """Where the line from box centre (x, y) towards (tx, ty) leaves the box."""
    dx, dy = tx - x, ty - y
    if dx == 0 and dy == 0:
        return x, y
    t = min((box_w / 2) / abs(dx) if dx else float("inf"), (_BOX_H / 2) / abs(dy) if dy else float("inf"))
    return x + dx * t, y + dy * t
