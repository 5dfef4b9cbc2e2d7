"""The graded checks of one assignment, with their points: one list, used by the README and the grader.

Every student's checks add up to the same total: each category's points are shared
equally among that category's checks, and a category a module has no check for (a module
without constructor constraints) gives its points to output equality. So the drawn
module never changes the total, only how finely it is divided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .records import CATEGORIES, CATEGORY_TEXT, Check, ManifestEntry

#: the key of the whole model in the grading materials
MODEL_CASE = "__model__"
#: hidden inputs per case for the eval-mode output check
EVAL_INPUTS = 2


@dataclass(frozen=True)
class Share:
    """One category's line in the points table a student reads."""

    category: str
    points: float
    checks: int
    text: str
    note: str = ""


def _planned(entry: ManifestEntry) -> dict[str, list[tuple[str, str, str, int, str]]]:
    """(name, kind, case, index, label) per category, without points."""
    ref = entry.reference
    plan: dict[str, list[tuple[str, str, str, int, str]]] = {c: [] for c in CATEGORIES}
    for case in ref.cases:
        where = f"{case.call.cls} at {case.name}"
        plan["contract"].append(
            (f"construct {where}", "construct", case.name, 0, f"{case.call.text} builds a torch.nn.Module "
             "with the documented state_dict names and shapes")
        )  # fmt: skip
        for k in range(EVAL_INPUTS):
            plan["outputs"].append(
                (f"output {where}, eval mode, hidden input {k + 1}", "eval", case.name, k,
                 f"{case.call.text} in eval mode gives the solution's output on a hidden input")
            )  # fmt: skip
        plan["outputs"].append(
            (f"output {where}, train mode", "train", case.name, 0,
             f"{case.call.text} in train mode gives the solution's output on a hidden input")
        )  # fmt: skip
        plan["gradients"].append(
            (f"gradients {where}", "backward", case.name, 0,
             f"{case.call.text}: the gradients of the inputs and parameters equal the solution's")
        )  # fmt: skip
    for i, count in enumerate(ref.counts):
        plan["contract"].append(
            (f"parameter count {count.call.text}", "count", "", i,
             f"{count.call.text} has {count.count:,} parameters")
        )  # fmt: skip
    for i, probe in enumerate(ref.probes):
        plan["constraints"].append(
            (f"rejects {probe.call.text}", "rejects", "", i,
             f"{probe.call.text} raises ValueError ({probe.reason})")
        )  # fmt: skip
    model = ref.model.cls
    plan["integration"] += [
        (f"{model} builds", "model-build", "", 0, f"{model}() builds with the solution's state_dict names "
         "and parameter count"),
        (f"{model} output", "model-output", MODEL_CASE, 0, f"{model} with the solution's weights gives the "
         "solution's output on a hidden input"),
    ]  # fmt: skip
    return plan


def _split(total: float, n: int) -> list[float]:
    """``total`` in ``n`` shares of whole hundredths that add up exactly (the first ones take the rest)."""
    cents = round(total * 100)
    base, rest = divmod(cents, n)
    return [(base + (1 if i < rest else 0)) / 100 for i in range(n)]


def shares(entry: ManifestEntry, points: Mapping[str, float]) -> list[Share]:
    plan = _planned(entry)
    moved = {c: points[c] for c in CATEGORIES if not plan[c] and points[c]}
    result = []
    for category in CATEGORIES:
        given = points[category] if plan[category] else 0.0
        note = ""
        if category == "outputs" and moved:
            given += sum(moved.values())
            note = "includes the points of " + ", ".join(moved) + ", which this module has no check for"
        result.append(Share(category, given, len(plan[category]), CATEGORY_TEXT[category], note))
    return result


def checks_for(entry: ManifestEntry, points: Mapping[str, float]) -> list[Check]:
    """The graded checks of ``entry`` in order, with points adding up to ``sum(points.values())``."""
    plan = _planned(entry)
    checks = []
    for share in shares(entry, points):
        items = plan[share.category]
        for (name, kind, case, index, label), value in zip(
            items, _split(share.points, len(items)) if items else []
        ):
            checks.append(Check(name, share.category, value, kind, case, index, label))
    return checks
