"""The smoke check: the written model.py runs in a fresh subprocess.

Forward and backward on a dummy batch; the output shape, finite values and gradients,
and every layer's shape against the Plan are checked. FLOPs are counted over the forward
pass with the formulas of ``torch.utils.flop_counter`` (matmuls and convolutions, 2 FLOPs per
multiply-add), exactly as ``FlopCounterMode`` counts them.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from . import _early, cache
from .errors import SmokeError
from .options import Check
from .plan import Plan, working_size
from .resources import PACKAGE_DIR

WORKER = PACKAGE_DIR / "_smoke_worker.py"
#: How the worker counts FLOPs; part of the baseline cache key (change it when the counting does).
FLOP_COUNTING = "flop_registry dispatch mode, forward pass, v1"


@dataclass(frozen=True)
class SmokeResult:
    parameters: int
    forward_flops: int
    output_shape: tuple[int, ...]
    shapes: dict[str, tuple[int, ...]]
    seconds: float
    torch_version: str
    threads: int
    baseline: dict | None = None  # parameters and forward FLOPs of the default model of the same size


def baseline_key(source: str, plan: Plan, check: Check) -> str:
    """The cache key of a baseline's figures: everything they follow from. Parameters and FLOPs
    are fixed by the model's source, the input's shape and the FLOP formulas of the torch
    version that counts them (``FLOP_COUNTING`` names how this worker counts)."""
    shape = f"{check.batch}x{plan.input.channels}x{check.height}x{check.width}"
    return cache.key(FLOP_COUNTING, cache.installed_version("torch"), plan.class_name, shape, source)


def _cached_baseline(name: str) -> dict | None:
    text = cache.read("baseline", name)
    try:
        figures = json.loads(text) if text else None
        if isinstance(figures["parameters"], int) and isinstance(figures["forward_flops"], int):
            return {"parameters": figures["parameters"], "forward_flops": figures["forward_flops"]}
    except (ValueError, TypeError, KeyError):
        pass
    return None


def _request(path: Path, plan: Plan, check: Check, baseline: Path | None = None) -> dict:
    return {
        "baseline": str(baseline) if baseline else None,
        "path": str(path),
        "class_name": plan.class_name,
        "layers": [layer.attr for layer in plan.layers],
        "batch": check.batch,
        "in_channels": plan.input.channels,
        "height": check.height,
        "width": check.width,
    }


class SmokeWorker:
    """The check's subprocess, started early: it imports torch while the model is rendered.

    ``run`` sends the request and waits for the result; ``close`` stops a worker that is not
    needed (generation failed before the check). Use as a context manager.
    """

    def __init__(self, proc: subprocess.Popen | None = None) -> None:
        """Start a worker, or adopt ``proc``, one started by :func:`_early.spawn`."""
        self.proc = proc or _early.spawn()

    def run(self, path: Path, plan: Plan, check: Check, baseline: str | None = None) -> SmokeResult:
        """Check the model file at ``path``; raise SmokeError (one line) on failure.

        ``baseline``, the source of the default model of the same architecture and size, gives
        the report's before/after comparison: its parameters and forward FLOPs are measured once
        (written next to ``path``, run by the worker) and then read from the user's cache, keyed
        by everything they follow from (:func:`baseline_key`).
        """
        figures = key = None
        if baseline is not None:
            key = baseline_key(baseline, plan, check)
            figures = _cached_baseline(key)
        measure = None
        if baseline is not None and figures is None:
            measure = path.with_name("baseline_model.py")
            measure.write_text(baseline, encoding="utf-8")
        request = json.dumps(_request(path, plan, check, measure))
        try:
            stdout, stderr = self.proc.communicate(request, timeout=check.timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise SmokeError(
                f"smoke check timed out after {check.timeout:g} s; use a smaller --size or a larger --timeout"
            ) from None
        lines = stdout.strip().splitlines()
        if self.proc.returncode != 0 or not lines:
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            raise SmokeError(f"smoke check crashed (exit {self.proc.returncode}): {last}")
        result = _verify(json.loads(lines[-1]), plan, check)
        if measure is not None and result.baseline:
            cache.write("baseline", key, json.dumps(result.baseline))
        return replace(result, baseline=figures) if figures else result

    def close(self) -> None:
        """Stop the worker (if it still runs) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.communicate()
        finally:
            self.proc.wait()  # reaped even when a signal interrupts the reading

    def __enter__(self) -> "SmokeWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_smoke_here(path: Path, plan: Plan, check: Check) -> SmokeResult:
    """The same check in this process (imports torch): for tests that check many models."""
    spec = importlib.util.spec_from_file_location("_plugscaffold_smoke_worker", WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    return _verify(worker.check(_request(path, plan, check)), plan, check)


def _verify(result: dict, plan: Plan, check: Check) -> SmokeResult:
    if not result["ok"]:
        where = f" in {result['layer']}" if result.get("layer") else ""
        raise SmokeError(f"smoke check failed{where}: {result['error']}")
    height, width = working_size(plan, check)
    expected = plan.output.at(check.batch, check.height, check.width)
    if tuple(result["output_shape"]) != expected:
        raise SmokeError(f"smoke check: output shape {tuple(result['output_shape'])}, expected {expected}")
    if not result["output_finite"]:
        raise SmokeError("smoke check: the output has NaN or infinite values")
    if result["nonfinite_grad"]:
        raise SmokeError(f"smoke check: non-finite gradients in {result['nonfinite_grad'][0]}")
    if result["no_grad"]:
        raise SmokeError(f"smoke check: parameter {result['no_grad'][0]} gets no gradient (an unused layer)")
    for layer in plan.layers:
        planned = layer.shape.at(check.batch, height, width)
        measured = tuple(result["shapes"].get(layer.attr, ()))
        if measured != planned:
            raise SmokeError(
                f"smoke check: {layer.attr} ({layer.module}) gave {measured}, the plan says {planned}; "
                "its catalog contract is wrong"
            )
    return SmokeResult(
        parameters=result["parameters"],
        forward_flops=result["forward_flops"],
        output_shape=tuple(result["output_shape"]),
        shapes={k: tuple(v) for k, v in result["shapes"].items()},
        seconds=result["seconds"],
        torch_version=result["torch"],
        threads=result["threads"],
        baseline=result.get("baseline"),
    )
