"""Plan -> a runnable training project beside model.py (``plugscaffold new ... --project``).

One public function, :func:`project_files`: pure data in, file texts out. The Python
files are real files, copied as they are (ruff and black check them there): what every
task shares (train.py, export.py, images.py, test_train.py) in ``templates/project/``, what a task uses
alone (data.py, metrics.py, predict.py, test_model.py) in ``templates/project/TASK/``
(the blueprint's task), so a project carries only its own task's code. What differs per
model is in the small generated config.py, rendered with the README and the diagram by
the same Jinja environment as model.py. No torch here: generation stays torch-free.

The architecture diagram (README's Mermaid block and architecture.svg) is drawn from the
Plan alone: one node per layer, an edge for every tensor a layer reads, labelled with the
producer's level, channels and scale. A layer's first input is the main path; any further
input (a fusion's skip tensor) is drawn as a dashed skip edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any

from jinja2 import Environment, TemplateNotFound

from . import __version__, blueprints
from .answers import project_command
from .catalog import Catalog, license_notice
from .errors import SpecError
from .options import Check
from .placement import Leaf, ParallelTerm, SerialTerm, Term, render
from .plan import Plan, Shape, chosen_plugins
from .render import environment, format_code
from .smoke import SmokeResult

_PYTHON = (
    "config.py",
    "train.py",
    "predict.py",
    "export.py",
    "data.py",
    "images.py",
    "metrics.py",
    "test_model.py",
    "test_train.py",
)
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
    return {name: _project_file(env, name, context) for name in PROJECT_FILES}


def _project_file(env: Environment, name: str, context: dict[str, Any]) -> str:
    """The real file ``templates/project/TASK/NAME`` (data.py, predict.py, ...: this task's
    own) or ``templates/project/NAME`` (train.py, ...: every task's) as it is: Python that
    ruff and black check like the package's own. Else NAME.jinja rendered with ``context``
    (config.py, the README, ...), Python formatted with black."""
    for source in (f"project/{context['task']}/{name}", f"project/{name}"):
        try:
            return env.loader.get_source(env, source)[0]
        except TemplateNotFound:
            pass
    text = env.get_template(f"project/{name}.jinja").render(**context)
    return format_code(text) if name in _PYTHON else text


#: The tasks the project templates are written for: segmentation (masks, Dice and IoU)
#: and classification (one label per image, accuracy), each in templates/project/TASK/.
PROJECT_TASKS = ("segmentation", "classification")
#: What picks best.pt and --target per task (the task's metrics.py says the same).
MAIN_METRICS = {"segmentation": "dice", "classification": "accuracy"}


def check_task(plan: Plan) -> str:
    """What the architecture is trained for (its blueprint says); SpecError (one line) when
    the project templates are not written for that task."""
    blueprint = blueprints.get(plan.spec.arch)
    if blueprint.task not in PROJECT_TASKS:
        raise SpecError(
            f"--project: training projects are written for {', '.join(PROJECT_TASKS)}; --arch "
            f"{blueprint.name} is a {blueprint.task} model (generate model.py without --project)"
        )
    return blueprint.task


_task = check_task


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


def _graph(plan: Plan) -> Graph:
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


def _attention_legend(plan: Plan) -> list[str]:
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


def _svg(graph: Graph, title: str, legend_lines: list[str], layout: str = "u") -> dict[str, Any]:
    """Boxes, arrows and labels with coordinates for ``architecture.svg.jinja``.

    ``layout`` is the blueprint's diagram: "chain" (a classifier) puts every node in one
    column in forward order. "u" (an encoder/decoder): nodes before the deepest level go
    down the left column (one band of rows per level),
    the nodes at the deepest level sit side by side at the bottom, and the rest go up the
    right column, so the encoder and decoder of a level face each other across the skips.
    Boxes are as wide as their longest text; the title wraps to the drawing's width.
    """
    nodes = list(graph.nodes)
    box_w = max(
        [_MIN_BOX_W]
        + [max(_text_width(n.title, 12, bold=True), _text_width(n.subtitle, 10)) + 16 for n in nodes]
    )
    box_w = float(round(box_w))
    if layout == "chain":  # a classifier: one column top to bottom, the logits at the bottom
        nodes = [Node(n.id, n.title, n.subtitle, 0, n.slot) for n in nodes[:-1]]
        nodes.append(Node(graph.nodes[-1].id, graph.nodes[-1].title, graph.nodes[-1].subtitle, 1, "io"))
    deepest = max(n.level for n in nodes)
    first = next(i for i, n in enumerate(nodes) if n.level == deepest)
    last = first
    while last + 1 < len(nodes) and nodes[last + 1].level == deepest:
        last += 1
    left, middle, right = nodes[:first], nodes[first : last + 1], nodes[last + 1 :]

    # Columns first: they fix the drawing's width, which the title wraps to.
    middle_width = len(middle) * box_w + (len(middle) - 1) * _GAP
    left_x = _MARGIN + box_w / 2
    right_x = left_x + max(middle_width + _GAP, 3 * box_w)
    middle_x0 = (left_x + right_x) / 2 - middle_width / 2 + box_w / 2
    label_room = 110  # room right of the right column for edge labels
    legend_room = max([_text_width(line, _LABEL_SIZE) for line in legend_lines] + [0])
    parts = [_text_width(p, _TITLE_SIZE, bold=True) for p in re.split(r"(?<=[,;]) ", title)]
    width = max(right_x + box_w / 2 + label_room, max(parts) + _MARGIN, legend_room + _MARGIN) + _MARGIN
    title_lines = _wrap(title, width - 2 * _MARGIN, _TITLE_SIZE)
    top = _MARGIN + 20 + (len(title_lines) - 1) * _TITLE_LINE  # the first row's top edge

    bands = {}
    for level in range(deepest):
        count = max(sum(n.level == level for n in left), sum(n.level == level for n in right), 1)
        bands[level] = count
    first_row = {}
    row = 0
    for level in range(deepest):
        first_row[level] = row
        row += bands[level]
    bottom_row = row + 1  # an empty row, so that the edges into and out of the bottom have room

    def y(row: int) -> float:
        return top + _BOX_H / 2 + row * _ROW

    centers: dict[str, tuple[float, float]] = {}
    for level in range(deepest):
        on_left = [n for n in left if n.level == level]
        for i, node in enumerate(on_left):
            centers[node.id] = (left_x, y(first_row[level] + i))
        on_right = [n for n in right if n.level == level]
        for i, node in enumerate(on_right):
            centers[node.id] = (right_x, y(first_row[level] + bands[level] - 1 - i))
    for i, node in enumerate(middle):
        centers[node.id] = (middle_x0 + i * (box_w + _GAP), y(bottom_row))
    for node in nodes:  # a level that does not fit the U (never in a U-shaped plan): park it at the bottom
        centers.setdefault(node.id, (left_x, y(bottom_row)))

    boxes = [
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
    rects = [(b["x"], b["y"], box_w, _BOX_H) for b in boxes]
    arrows = []
    for edge in graph.edges:
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
    present = {n.slot for n in nodes}
    legend = [(slot or "other", fill) for slot, fill in _FILLS.items() if slot != "io" and slot in present]
    legend_y = y(bottom_row) + _BOX_H / 2 + 30
    notes_y = legend_y + 8 + _LEGEND_LINE
    return {
        "title": escape(title),
        "title_lines": [
            {"y": _MARGIN - 6 + i * _TITLE_LINE, "text": escape(line)} for i, line in enumerate(title_lines)
        ],
        "width": round(width),
        "height": round(notes_y + len(legend_lines) * _LEGEND_LINE + 4),
        "box_w": box_w,
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


# --- the template context ---------------------------------------------------------------


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
        from .report import human  # the one number format (report imports pipeline, which imports this)

        cost = {
            "parameters": f"{smoke.parameters:,}",
            "parameters_h": human(smoke.parameters),
            "flops": human(smoke.forward_flops),
            "flops_per_image": human(smoke.forward_flops / check.batch),
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
        "pads": plan.pads,
        "output": plan.output.text,
        "height": height,
        "width": width,
        "size_text": check.size_text,
        "main_metric": MAIN_METRICS[task],
        "plugins": plugins,
        "license_notice": license_notice(chosen_plugins(plan, catalog)),
        "cost": cost,
        "rows": rows,
        "check": {"batch": check.batch, "height": height, "width": width},
        "projections": [{"attr": attr, "comment": note} for attr, note in plan.projections],
        "mermaid": _mermaid(graph),
        "svg": _svg(
            graph,
            f"{plan.spec.name}: {plan.summary}",
            _attention_legend(plan),
            blueprints.get(plan.spec.arch).diagram,
        ),
    }
