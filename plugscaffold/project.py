"""Plan -> a runnable training project beside model.py (``plugscaffold new ... --project``).

One public function, :func:`project_files`: pure data in, file texts out. The Python
files are real files, copied as they are (ruff and black check them there): what every
task shares (train.py, export.py, images.py, test_train.py) in ``templates/project/``, what a task uses
alone (data.py, metrics.py, predict.py, test_model.py) in ``templates/project/TASK/``
(the blueprint's task), so a project carries only its own task's code. What differs per
model is in the small generated config.py, rendered with the README and architecture.svg
by the same Jinja environment as model.py (the diagram is laid out by
:mod:`plugscaffold.diagram`). No torch here: generation stays torch-free.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, TemplateNotFound

from . import __version__, blueprints
from .answers import project_command
from .catalog import Catalog, license_notice
from .diagram import Graph, attention_legend, mermaid, plan_graph, svg_drawing
from .errors import SpecError
from .options import Check
from .plan import Plan, chosen_plugins
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


def project_files(plan: Plan, catalog: Catalog, smoke: SmokeResult | None, check: Check) -> dict[str, str]:
    """Relative path -> text of every project file (train.py, data.py, tests, README, ...)."""
    graph = plan_graph(plan)
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


# --- the template context ---------------------------------------------------------------


def _context(
    plan: Plan, catalog: Catalog, smoke: SmokeResult | None, check: Check, graph: Graph
) -> dict[str, Any]:
    """What the README, config.py and the diagram are rendered from."""
    task = _task(plan)
    height, width = check.height, check.width
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
        "plugins": _plugins(plan),
        "license_notice": license_notice(chosen_plugins(plan, catalog)),
        "cost": _cost(smoke, check),
        "rows": _layer_rows(plan, smoke),
        "check": {"batch": check.batch, "height": height, "width": width},
        "projections": [{"attr": attr, "comment": note} for attr, note in plan.projections],
        "mermaid": mermaid(graph),
        "svg": svg_drawing(
            graph,
            f"{plan.spec.name}: {plan.summary}",
            attention_legend(plan),
            blueprints.get(plan.spec.arch).diagram,
        ),
    }


def _plugins(plan: Plan) -> list[dict[str, Any]]:
    """The README's table of plug-ins taken from a paper: slot, name, paper, citation, link, license."""
    return [
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


def _cost(smoke: SmokeResult | None, check: Check) -> dict[str, Any] | None:
    """What the check measured (parameters, FLOPs, where), None without a check."""
    if smoke is None:
        return None
    from .report import human  # the one number format (report imports pipeline, which imports this)

    return {
        "parameters": f"{smoke.parameters:,}",
        "parameters_h": human(smoke.parameters),
        "flops": human(smoke.forward_flops),
        "flops_per_image": human(smoke.forward_flops / check.batch),
        "batch": check.batch,
        "torch": smoke.torch_version,
        "threads": smoke.threads,
    }


def _layer_rows(plan: Plan, smoke: SmokeResult | None) -> list[dict[str, str]]:
    """The README's layer table: each layer's planned shape and the one the check measured."""
    return [
        {
            "stage": layer.stage,
            "attr": layer.attr,
            "module": layer.module,
            "planned": layer.shape.text,
            "measured": str(smoke.shapes.get(layer.attr, "")) if smoke else "",
        }
        for layer in plan.layers
    ]
