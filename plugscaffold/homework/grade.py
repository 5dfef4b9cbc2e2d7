"""Grading: hidden checks against the solution, every submission isolated, results from this process.

For each student the grader draws fresh weights and inputs from the run's seed (never
written where a student could have seen them), runs the checks on the solution here, then
on the submission in ``_grade_worker.py`` under :mod:`.runner`'s limits, and compares the
two. A check passes only when this process finds the submission's result equal to the
solution's; nothing the submission writes is taken as a verdict.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import signal
import tempfile
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import GradingStopped
from . import _grade_worker, runner
from .build import Manifest, read_manifest
from .checks import MODEL_CASE, checks_for
from .records import Check, GradeRow, ManifestEntry, Result
from .spec import HomeworkError

ATOL = RTOL = 1e-4
#: (H, W) pairs the hidden inputs are drawn from (scaled per input as the model feeds the module)
HIDDEN_SIZES = [(h, w) for h in (4, 6, 8, 10, 12, 16) for w in (4, 6, 8, 10, 12, 16)]
MAX_RESULT_BYTES = 256 << 20
NOT_RUN = "not run: model.py does not load (see the summary)"


@dataclass
class GradeReport:
    rows: list[GradeRow]
    seed: int
    similar: list[tuple[str, str, float]]
    files: list[Path]


def grade(
    assignment_dir: str | Path,
    submissions_dir: str | Path,
    csv_path: str | Path,
    *,
    limits: runner.Limits | None = None,
    jobs: int | None = None,
    seed: int | None = None,
    feedback_dir: str | Path | None = None,
    similarity: float = 0.9,
) -> GradeReport:
    """Grade ``submissions_dir/<id>/model.py`` for every student; write the CSV, feedback and results.json.

    ``feedback_dir`` (default: ``feedback/`` next to the CSV) gets ``<id>.md`` and
    ``<id>.results.json`` (Gradescope's format) per student, and ``similarity.csv``.
    Grading runs the submitted code: run it where that is safe (see the README).
    """
    from .outputs import write_outputs
    from .similarity import similar_pairs

    root, submissions = Path(assignment_dir), Path(submissions_dir)
    manifest = read_manifest(root)
    if not submissions.is_dir():
        raise HomeworkError(
            f"submissions folder {submissions} does not exist; it should hold one folder per student id"
        )
    limits = limits or runner.Limits()
    seed = secrets.randbelow(2**31) if seed is None else seed
    prepared = {s.id: prepare(root, manifest, s, seed) for s in manifest.students}
    workers = max(1, jobs or 2)
    with runner.protected(), _stop_on_signals(), ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(grade_one, s, submissions / s.id / "model.py", prepared[s.id], limits)
            for s in manifest.students
        ]
        try:
            rows = [f.result() for f in futures]
        except runner.Stopped:
            raise GradingStopped(
                "grading was stopped; every submission process was ended, no grades written"
            ) from None
    similar = similar_pairs(root, submissions, manifest, similarity)
    out = Path(feedback_dir) if feedback_dir else Path(csv_path).parent / "feedback"
    files = write_outputs(rows, manifest, Path(csv_path), out, similar)
    return GradeReport(rows, seed, similar, files)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT end every submission process, then stop grading (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        runner.STOPPING.set()
        runner.end_all()
        raise runner.Stopped(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except runner.Stopped:
        raise GradingStopped(
            "grading was stopped; every submission process was ended, no grades written"
        ) from None
    finally:
        runner.STOPPING.set()
        runner.end_all()
        for s, handler in previous.items():
            signal.signal(s, handler)
        runner.STOPPING.clear()


# --- the solution's side -----------------------------------------------------------------------


@dataclass
class Prepared:
    checks: list[Check]
    tasks: list[dict[str, Any]]
    materials: dict[str, Any]
    expected: list[dict[str, Any]]


def _load_solution(path: Path, sid: str) -> Any:
    """The solution's model.py as a module (compiled here: no __pycache__ beside it)."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        raise HomeworkError(f"{path} is missing; regenerate the assignment") from None
    module = types.ModuleType(f"plugscaffold_solution_{sid}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def prepare(root: Path, manifest: Manifest, entry: ManifestEntry, seed: int) -> Prepared:
    """Draw this run's weights and inputs for ``entry`` and run every check on the solution."""
    import torch

    solution = _load_solution(root / "solutions" / entry.id / "model.py", entry.id)
    checks = checks_for(entry, manifest.points)
    rng = random.Random(f"{seed}/{entry.id}")
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    materials: dict[str, Any] = {}
    ref = entry.reference
    for case in ref.cases:
        call = case.call.to_json()
        torch.manual_seed(rng.randrange(2**31))
        module = _grade_worker.build(solution, call)
        state = _perturbed(module, generator)
        materials[case.name] = _case_inputs(module, case.inputs, rng, generator, case.call.text)
        materials[case.name]["state"] = state
    torch.manual_seed(rng.randrange(2**31))
    net = getattr(solution, ref.model.cls)()
    shape = [2, *ref.model.input[1:]]
    materials[MODEL_CASE] = {
        "state": _perturbed(net, generator),
        "inputs": [[torch.randn(shape, generator=generator)]],
    }
    tasks = [_task(check, entry, rng.randrange(2**31)) for check in checks]
    expected = []
    for check, task in zip(checks, tasks):
        try:
            expected.append(_grade_worker.run_task(solution, task, materials))
        except Exception as exc:
            raise HomeworkError(
                f"student '{entry.id}': the solution fails the check '{check.name}': {exc}"
            ) from None
    return Prepared(checks, tasks, materials, expected)


def _perturbed(module: Any, generator: Any) -> dict[str, Any]:
    """Weights away from their init (e.g. DySample's zero offsets) and set BN statistics; the state_dict."""
    import torch

    with torch.no_grad():
        for p in module.parameters():
            if p.is_floating_point():
                p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=generator, dtype=b.dtype))
            elif name.endswith("running_var"):
                b.copy_(0.75 + 0.5 * torch.rand(b.shape, generator=generator, dtype=b.dtype))
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def _case_inputs(module: Any, shapes: list[list[int]], rng: random.Random, generator: Any, call: str) -> dict:
    """Inputs at sizes drawn for this run that the solution accepts: two for eval, one for train."""
    import torch

    from ._survey_worker import scaled

    sizes = list(HIDDEN_SIZES)
    rng.shuffle(sizes)
    found = []
    module.eval()
    for height, width in sizes:
        xs = [torch.randn(s, generator=generator) for s in scaled(shapes, height, width)]
        try:
            with torch.no_grad():
                out = module(*xs)
        except Exception:  # a size this module does not accept is not drawn
            continue
        found.append((xs, out.shape))
        if len(found) == 3:
            break
    if len(found) < 3:
        raise HomeworkError(f"{call}: the solution accepts fewer than 3 of the hidden input sizes")
    (eval_a, _), (eval_b, _), (train, train_shape) = found
    return {
        "inputs": [eval_a, eval_b],
        "train": train,
        "upstream": torch.randn(train_shape, generator=generator),
    }


def _task(check: Check, entry: ManifestEntry, seed: int) -> dict[str, Any]:
    ref = entry.reference
    task: dict[str, Any] = {"kind": check.kind, "case": check.case, "index": check.index, "seed": seed}
    if check.kind in ("construct", "eval", "train", "backward"):
        task["call"] = next(c for c in ref.cases if c.name == check.case).call.to_json()
    elif check.kind == "count":
        task["call"] = ref.counts[check.index].call.to_json()
    elif check.kind == "rejects":
        task["call"] = ref.probes[check.index].call.to_json()
    if check.kind.startswith("model"):
        task["model"] = ref.model.cls
        task["index"] = 0
    return task


# --- the submission's side ------------------------------------------------------------------------


def grade_one(entry: ManifestEntry, model: Path, prepared: Prepared, limits: runner.Limits) -> GradeRow:
    """Run one submission's checks in an isolated worker and compare with the solution's results."""
    import torch

    checks = prepared.checks
    if not model.is_file():
        where = f"{model.parent} has no model.py" if model.parent.is_dir() else f"no folder {model.parent}"
        return GradeRow(entry.id, [Result(c, False, "not run: no submission") for c in checks],
                        note=f"missing submission: {where}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="plugscaffold-grade-") as tmp:
        work = Path(tmp)
        shutil.copyfile(model, work / "model.py")
        (work / "results").mkdir()
        (work / "tasks.json").write_text(json.dumps(prepared.tasks), encoding="utf-8")
        torch.save(prepared.materials, work / "materials.pt")
        outcome = runner.run(work, len(checks), limits)
        results = []
        for index, check in enumerate(checks):
            if outcome.note:
                results.append(Result(check, False, NOT_RUN))
                continue
            problem = outcome.problems.get(index)
            if problem:
                results.append(Result(check, False, problem))
                continue
            got = _load_result(work / "results" / f"{index}.pt")
            if got is None:
                results.append(Result(check, False, "no result was recorded for this check"))
                continue
            passed, message = compare(check, prepared.expected[index], got)
            results.append(Result(check, passed, message))
    return GradeRow(entry.id, results, note=outcome.note, network=outcome.network)


def _load_result(path: Path) -> Any:
    """A result file as tensors and plain data (weights_only: no code runs); None unless a
    small regular file."""
    import stat

    import torch

    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESULT_BYTES:
            return None
        return torch.load(path, weights_only=True)
    except Exception:  # unreadable or not a torch file: no result
        return None


def compare(check: Check, want: Mapping[str, Any], got: Any) -> tuple[bool, str]:
    """Whether the submission's result equals the solution's; why not, without the hidden inputs."""
    import torch

    if not isinstance(got, dict):
        return False, "no result was recorded for this check"
    if "error" in got:
        return False, str(got["error"])
    if check.kind == "rejects":
        raised = got.get("raised")
        if raised == "ValueError":
            return True, ""
        return False, ("did not raise ValueError" if not raised else f"raised {raised}, not ValueError")
    if "state" in want:
        problem = _layout(want["state"], got.get("state"))
        if problem:
            return False, problem
        if got.get("parameters") != want["parameters"]:
            return False, f"{got.get('parameters')} parameters, expected {want['parameters']:,}"
        return True, ""
    if "grads" in want:
        if not isinstance(got.get("grads"), dict):
            return False, _output_problem(want_shape=None, out=got.get("output"))
        for name, grad in want["grads"].items():
            mine = got["grads"].get(name)
            if not isinstance(mine, torch.Tensor) or mine.numel() == 0 and grad.numel() != 0:
                return False, f"{name} gets no gradient"
            if mine.shape != grad.shape or not torch.allclose(
                mine.float(), grad.float(), atol=ATOL, rtol=RTOL
            ):
                return False, f"the gradient of {name} differs from the solution's{_difference(mine, grad)}"
        return True, ""
    out, expected = got.get("output"), want["output"]
    if not isinstance(out, torch.Tensor) or out.shape != expected.shape:
        return False, _output_problem(tuple(expected.shape), out)
    if not torch.allclose(out.float(), expected.float(), atol=ATOL, rtol=RTOL):
        return False, f"the output differs from the solution's{_difference(out, expected)}"
    return True, ""


def _layout(want: list, got: Any) -> str:
    if not isinstance(got, list):
        return "no state_dict was recorded"
    want_map = {k: tuple(s) for k, s in want}
    got_map = {str(k): tuple(s) for k, s in got}
    missing, unexpected = sorted(set(want_map) - set(got_map)), sorted(set(got_map) - set(want_map))
    if missing or unexpected:
        return f"state_dict names differ: missing {missing[:5]}, unexpected {unexpected[:5]}"
    wrong = [f"{k} {got_map[k]} (expected {want_map[k]})" for k in want_map if got_map[k] != want_map[k]]
    return f"state_dict shapes differ: {', '.join(wrong[:3])}" if wrong else ""


def _output_problem(want_shape: tuple | None, out: Any) -> str:
    import torch

    if not isinstance(out, torch.Tensor):
        return f"forward returned {type(out).__name__}, not a tensor"
    if want_shape is None:
        return f"output shape {tuple(out.shape)} differs from the solution's"
    return f"output shape {tuple(out.shape)}, expected {want_shape}"


def _difference(a: Any, b: Any) -> str:
    if a.shape != b.shape:
        return f" (shape {tuple(a.shape)}, expected {tuple(b.shape)})"
    return f" (largest difference {float((a.float() - b.float()).abs().max()):.3g}, tolerance {ATOL:g})"
