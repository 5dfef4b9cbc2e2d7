"""The smoke check: the written model.py runs in a fresh subprocess.

Forward and backward on a dummy batch; the output shape, finite values and gradients,
and every layer's shape against the Plan are checked. FLOPs are counted with
``torch.utils.flop_counter.FlopCounterMode`` over the forward pass (matmuls and
convolutions, 2 FLOPs per multiply-add).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import SmokeError
from .plan import Plan
from .resources import PACKAGE_DIR

WORKER = PACKAGE_DIR / "_smoke_worker.py"


#: The image size of a training project (--project) when --size is not given: its check runs at
#: the size it trains at, and train.py, data.py and its README use it.
PROJECT_SIZE = 256


@dataclass(frozen=True)
class Check:
    """How to run the check: input size, batch and a time limit in seconds.

    Without a size (``height`` and ``width`` None) the check runs at the smallest input that
    exercises every stage of the Plan (:func:`plugscaffold.plan.fit_check` chooses it, and marks
    the result ``auto``).
    """

    height: int | None = None
    width: int | None = None
    batch: int = 2
    timeout: float = 600.0
    auto: bool = False  # the size was chosen by fit_check, not given

    @property
    def sized(self) -> bool:
        return self.height is not None and self.width is not None

    @property
    def size_text(self) -> str:
        """The size as --size takes it: 'H' when square, else 'HxW'."""
        return f"{self.height}" if self.height == self.width else f"{self.height}x{self.width}"

    def padded(self, divisor: int) -> tuple[int, int]:
        """The size the model works at inside (rounded up to multiples of ``divisor``)."""
        return (-(-self.height // divisor) * divisor, -(-self.width // divisor) * divisor)


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

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, path: Path, plan: Plan, check: Check, baseline: Path | None = None) -> SmokeResult:
        """Check the model file at ``path``; raise SmokeError (one line) on failure.

        ``baseline``, a model file of the default architecture at the same size, is measured
        too (on the meta device) for the report's before/after comparison.
        """
        request = json.dumps(_request(path, plan, check, baseline))
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
        return _verify(json.loads(lines[-1]), plan, check)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()

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
    height, width = check.padded(plan.divisor)
    expected = (check.batch, plan.output.channels, check.height, check.width)
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
