"""Plan -> a runnable training project beside model.py (``plugscaffold new ... --project``).

One public function, :func:`project_files`: pure data in, file texts out. The files are
rendered from ``templates/project/`` with the same Jinja environment as model.py; the
Python files are formatted with black. No torch here: generation stays torch-free.

The architecture diagram (README's Mermaid block and architecture.svg) is drawn from the
Plan alone: one node per layer, an edge for every tensor a layer reads, labelled with the
producer's level, channels and scale. A layer's first input is the main path; any further
input (a fusion's skip tensor) is drawn as a dashed skip edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from . import __version__
from .answers import project_command
from .catalog import Catalog, license_notice
from .plan import Plan, Shape, chosen_plugins
from .render import environment, format_code
from .smoke import Check, SmokeResult

#: The task each architecture is trained for; a classifier architecture adds its name here.
ARCH_TASKS = {"unet": "segmentation"}

_PYTHON = ("train.py", "data.py", "test_model.py")
_TEXT = ("README.md", "requirements.txt", "architecture.svg")
#: The files ``--project`` adds beside model.py.
PROJECT_FILES = (*_PYTHON, *_TEXT)

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


def project_files(plan: Plan, catalog: Catalog, smoke: SmokeResult | None, check: Check) -> dict[str, str]:
    """Relative path -> text of every project file (train.py, data.py, tests, README, ...)."""
    graph = _graph(plan)
    context = _context(plan, catalog, smoke, check, graph)
    env = environment()
    files: dict[str, str] = {}
    for name in PROJECT_FILES:
        text = env.get_template(f"project/{name}.jinja").render(**context)
        files[name] = format_code(text) if name in _PYTHON else text
    return files


def _task(plan: Plan) -> str:
    try:
        return ARCH_TASKS[plan.spec.arch]
    except KeyError:
        raise ValueError(f"no training task is known for architecture '{plan.spec.arch}'") from None


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
    """What flows along an edge: its level, channels and scale, e.g. 'L2 · 64 ch · 1/4'."""
    return f"L{shape.level} · {shape.channels} ch · {_scale(shape.level)}"


def _graph(plan: Plan) -> Graph:
    """Nodes (input, every layer, logits) and the edges between them, in forward order."""
    out = plan.output
    nodes = [Node("input", "input", f"(B, {plan.input.channels}, H, W)", plan.input.level, "io")]
    producer: dict[str, tuple[str, Shape]] = {"x": ("input", plan.input)}
    edges: list[Edge] = []
    for layer in plan.layers:
        slot = layer.entries[0].slot if layer.entries else None
        nodes.append(Node(layer.attr, layer.attr, layer.module, layer.shape.level, slot))
        for i, name in enumerate(layer.inputs):
            source, shape = producer[name]
            edges.append(Edge(source, layer.attr, edge_label(shape), skip=i > 0))
        producer[layer.output] = (layer.attr, layer.shape)
    nodes.append(Node("logits", "logits", f"(B, {out.channels}, H, W)", out.level, "io"))
    source, shape = producer[plan.result]
    edges.append(Edge(source, "logits", edge_label(shape), skip=False))
    return Graph(tuple(nodes), tuple(edges))


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _mermaid(graph: Graph) -> str:
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

_BOX_W, _BOX_H, _ROW, _GAP, _MARGIN = 150, 34, 58, 110, 30


def _svg(graph: Graph, title: str) -> dict[str, Any]:
    """Boxes, arrows and labels with coordinates for ``architecture.svg.jinja``.

    Nodes before the deepest level go down the left column (one band of rows per level),
    the nodes at the deepest level sit side by side at the bottom, and the rest go up the
    right column, so the encoder and decoder of a level face each other across the skips.
    """
    nodes = list(graph.nodes)
    deepest = max(n.level for n in nodes)
    first = next(i for i, n in enumerate(nodes) if n.level == deepest)
    last = first
    while last + 1 < len(nodes) and nodes[last + 1].level == deepest:
        last += 1
    left, middle, right = nodes[:first], nodes[first : last + 1], nodes[last + 1 :]

    bands = {}
    for level in range(deepest):
        count = max(sum(n.level == level for n in left), sum(n.level == level for n in right), 1)
        bands[level] = count
    top = {}
    row = 0
    for level in range(deepest):
        top[level] = row
        row += bands[level]
    bottom_row = row + 1  # an empty row, so that the edges into and out of the bottom have room

    middle_width = len(middle) * _BOX_W + (len(middle) - 1) * _GAP
    left_x = _MARGIN + _BOX_W / 2
    right_x = left_x + max(middle_width + _GAP, 3 * _BOX_W)
    middle_x0 = (left_x + right_x) / 2 - middle_width / 2 + _BOX_W / 2
    label_room = 110  # room right of the right column for edge labels

    centers: dict[str, tuple[float, float]] = {}
    for level in range(deepest):
        on_left = [n for n in left if n.level == level]
        for i, node in enumerate(on_left):
            centers[node.id] = (left_x, _y(top[level] + i))
        on_right = [n for n in right if n.level == level]
        for i, node in enumerate(on_right):
            centers[node.id] = (right_x, _y(top[level] + bands[level] - 1 - i))
    for i, node in enumerate(middle):
        centers[node.id] = (middle_x0 + i * (_BOX_W + _GAP), _y(bottom_row))
    for node in nodes:  # a level that does not fit the U (never for a UNet): park it at the bottom
        centers.setdefault(node.id, (left_x, _y(bottom_row)))

    boxes = [
        {
            "x": centers[n.id][0] - _BOX_W / 2,
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
    arrows = []
    for edge in graph.edges:
        (x1, y1), (x2, y2) = centers[edge.source], centers[edge.target]
        sx, sy = _border(x1, y1, x2, y2)
        ex, ey = _border(x2, y2, x1, y1)
        vertical = abs(x2 - x1) < 1
        arrows.append(
            {
                "x1": round(sx, 1),
                "y1": round(sy, 1),
                "x2": round(ex, 1),
                "y2": round(ey, 1),
                "skip": edge.skip,
                "label": escape(edge.label),
                "lx": round((sx + ex) / 2 + (6 if vertical else 0), 1),
                "ly": round((sy + ey) / 2 + (4 if vertical else -5), 1),
                "anchor": "start" if vertical else "middle",
            }
        )
    present = {n.slot for n in nodes}
    legend = [(slot or "other", fill) for slot, fill in _FILLS.items() if slot != "io" and slot in present]
    legend_y = _y(bottom_row) + _BOX_H / 2 + 30
    return {
        "title": escape(title),
        "width": round(right_x + _BOX_W / 2 + label_room + _MARGIN),
        "height": round(legend_y + 20),
        "boxes": boxes,
        "arrows": arrows,
        "legend": [
            {"x": _MARGIN + i * 95, "y": legend_y, "name": n, "fill": f} for i, (n, f) in enumerate(legend)
        ],
    }


def _y(row: int) -> float:
    return _MARGIN + 20 + _BOX_H / 2 + row * _ROW


def _border(x: float, y: float, tx: float, ty: float) -> tuple[float, float]:
    """Where the line from box centre (x, y) towards (tx, ty) leaves the box."""
    dx, dy = tx - x, ty - y
    if dx == 0 and dy == 0:
        return x, y
    t = min((_BOX_W / 2) / abs(dx) if dx else float("inf"), (_BOX_H / 2) / abs(dy) if dy else float("inf"))
    return x + dx * t, y + dy * t


# --- the template context ---------------------------------------------------------------


def _human(n: float) -> str:
    """1234567 -> '1.23 M'."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return str(int(n))


def _context(
    plan: Plan, catalog: Catalog, smoke: SmokeResult | None, check: Check, graph: Graph
) -> dict[str, Any]:
    task = _task(plan)
    plugins = [
        {
            "slot": e.slot,
            "name": e.name,
            "title": e.title,
            "paper": (e.paper or {}).get("title", ""),
            "citation": e.citation,
            "link": e.link,
            "license": e.license,
        }
        for e in plan.entries
        if e.paper
    ]
    cost = None
    if smoke is not None:
        cost = {
            "parameters": f"{smoke.parameters:,}",
            "parameters_h": _human(smoke.parameters),
            "flops": _human(smoke.forward_flops),
            "flops_per_image": _human(smoke.forward_flops / check.batch),
            "batch": check.batch,
            "torch": smoke.torch_version,
            "threads": smoke.threads,
        }
    height, width = check.height, check.width
    rows = [
        {
            "stage": layer.stage,
            "attr": layer.attr,
            "module": layer.module,
            "planned": layer.shape.text,
            "measured": str(smoke.shapes.get(layer.attr, "")) if smoke else "",
        }
        for layer in plan.layers
    ]
    return {
        "project": plan.spec.name,
        "summary": plan.summary,
        "doc": plan.doc,
        "version": __version__,
        "catalog_version": catalog.version,
        "command": project_command(plan.spec, catalog, check),
        "class_name": plan.class_name,
        "task": task,
        "in_channels": plan.input.channels,
        "classes": plan.output.channels,
        "divisor": plan.divisor,
        "height": height,
        "width": width,
        "size_text": check.size_text,
        "main_metric": "dice" if task == "segmentation" else "accuracy",
        "plugins": plugins,
        "license_notice": license_notice(chosen_plugins(plan, catalog)),
        "cost": cost,
        "rows": rows,
        "check": {"batch": check.batch, "height": height, "width": width},
        "projections": [{"attr": attr, "comment": note} for attr, note in plan.projections],
        "mermaid": _mermaid(graph),
        "svg": _svg(graph, f"{plan.spec.name}: {plan.summary}"),
    }
