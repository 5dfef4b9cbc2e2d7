"""The typed records that cross file and process boundaries, each with a JSON form.

Constructor arguments are JSON values; a tuple is written ``{"tuple": [...]}`` so that it
comes back a tuple (``kernel_size=(3, 3)`` must not turn into a list; see ``_codec``).
Nothing here is parsed with ``ast.literal_eval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ._codec import decode, encode

#: The check categories in the order the README, the CSV and results.json list them.
CATEGORIES = ("contract", "outputs", "gradients", "constraints", "integration")
#: Default points per category (out of 100); output equality carries most of the grade.
DEFAULT_POINTS = {"contract": 15, "outputs": 50, "gradients": 20, "constraints": 5, "integration": 10}
CATEGORY_TEXT = {
    "contract": "construction and contract (builds, state_dict names and shapes, parameter count)",
    "outputs": "output equality with the solution on hidden inputs (eval and train mode)",
    "gradients": "gradients equal to the solution's (inputs and parameters)",
    "constraints": "constructor constraints raise ValueError as the docstring says",
    "integration": "your class inside model.py (the whole model builds and matches)",
}


@dataclass(frozen=True)
class Call:
    """``cls(*args, **kwargs)``: one construction of a class the student implements."""

    cls: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        words = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.cls}({', '.join(words)})"

    def to_json(self) -> dict[str, Any]:
        return {"class": self.cls, "args": encode(self.args), "kwargs": encode(self.kwargs)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Call:
        return cls(data["class"], decode(data.get("args") or {"tuple": []}), decode(data.get("kwargs") or {}))


@dataclass(frozen=True)
class Case:
    """A distinct construction the model makes, with the input shapes it sees there."""

    name: str  # the first layer that builds it, e.g. 'enc1.attn'
    call: Call
    inputs: list[list[int]]  # input shapes in the model run at model_size
    layers: list[str]
    model_size: int
    state: list[tuple[str, list[int]]]  # the solution's state_dict names and shapes
    sizes: list[dict[str, Any]] = field(default_factory=list)  # public self-check: input and output shapes

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "call": self.call.to_json(),
            "inputs": self.inputs,
            "layers": self.layers,
            "model_size": self.model_size,
            "state": [[k, list(s)] for k, s in self.state],
            "sizes": self.sizes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        return cls(
            data["name"],
            Call.from_json(data["call"]),
            [list(s) for s in data["inputs"]],
            list(data["layers"]),
            int(data["model_size"]),
            [(k, list(s)) for k, s in data["state"]],
            list(data.get("sizes") or []),
        )


@dataclass(frozen=True)
class Probe:
    """Arguments that break a constraint: the constructor must raise ValueError."""

    call: Call
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"call": self.call.to_json(), "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Probe:
        return cls(Call.from_json(data["call"]), data["reason"])


@dataclass(frozen=True)
class Count:
    """The parameter count of a reference configuration (the catalog's, measured on the official code)."""

    call: Call
    count: int
    catalog: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"call": self.call.to_json(), "count": self.count, "catalog": self.catalog}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Count:
        return cls(Call.from_json(data["call"]), int(data["count"]), data.get("catalog"))


@dataclass(frozen=True)
class ModelFacts:
    """The whole model as built by its no-argument constructor."""

    cls: str
    input: list[int]
    output: list[int]
    parameters: int

    def to_json(self) -> dict[str, Any]:
        return {"class": self.cls, "input": self.input, "output": self.output, "parameters": self.parameters}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelFacts:
        return cls(data["class"], list(data["input"]), list(data["output"]), int(data["parameters"]))


@dataclass(frozen=True)
class Reference:
    """What the survey worker measured on one solution."""

    cases: list[Case]
    counts: list[Count]
    probes: list[Probe]
    model: ModelFacts

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": [c.to_json() for c in self.cases],
            "counts": [c.to_json() for c in self.counts],
            "probes": [p.to_json() for p in self.probes],
            "model": self.model.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reference:
        return cls(
            [Case.from_json(c) for c in data["cases"]],
            [Count.from_json(c) for c in data["counts"]],
            [Probe.from_json(p) for p in data["probes"]],
            ModelFacts.from_json(data["model"]),
        )


@dataclass(frozen=True)
class Task:
    """One module a student implements: its slot, catalog name and classes."""

    slot: str
    module: str
    classes: list[str]


@dataclass(frozen=True)
class ManifestEntry:
    """One student's (or group's) assignment, as homework.yml records it."""

    id: str
    members: list[str]
    choices: dict[str, str]
    implement: list[Task]
    reference: Reference

    @property
    def classes(self) -> list[str]:
        return [c for t in self.implement for c in t.classes]

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(f"{t.slot} {t.module}" for t in self.implement)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        if self.members:
            data["members"] = list(self.members)
        data["choices"] = dict(self.choices)
        data["implement"] = [
            {"slot": t.slot, "module": t.module, "classes": list(t.classes)} for t in self.implement
        ]
        data["reference"] = self.reference.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ManifestEntry:
        return cls(
            str(data["id"]),
            [str(m) for m in data.get("members") or []],
            {str(k): str(v) for k, v in (data.get("choices") or {}).items()},
            [Task(t["slot"], t["module"], list(t["classes"])) for t in data["implement"]],
            Reference.from_json(data["reference"]),
        )


@dataclass(frozen=True)
class Check:
    """One graded check: its name, category, points and what the worker runs for it."""

    name: str
    category: str
    points: float
    kind: str  # construct | count | eval | train | backward | rejects | model
    case: str = ""  # the case name (or '' for the whole model)
    index: int = 0  # the size index (eval) or the probe/count index
    label: str = ""  # what is checked, in words, without the hidden inputs

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Result:
    """The outcome of one check for one submission."""

    check: Check
    passed: bool
    message: str = ""  # why it failed: one line, never a hidden input

    @property
    def score(self) -> float:
        return self.check.points if self.passed else 0.0


@dataclass
class GradeRow:
    """One submission's grade: every check with its points."""

    student: str
    results: list[Result]
    note: str = ""  # one line for the whole submission (missing, does not load, ...)
    network: str = ""  # how the network was blocked for this submission

    @property
    def score(self) -> float:
        return round(sum(r.score for r in self.results), 2)

    @property
    def max_score(self) -> float:
        return round(sum(r.check.points for r in self.results), 2)

    @property
    def percent(self) -> float:
        return round(100.0 * self.score / self.max_score, 1) if self.max_score else 0.0

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def first_failure(self) -> str:
        if self.note:
            return self.note
        failed = next((r for r in self.results if not r.passed), None)
        return f"{failed.check.name}: {failed.message}" if failed else ""
