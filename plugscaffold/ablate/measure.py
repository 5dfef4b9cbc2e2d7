"""Generating and measuring the variants: generate() with a worker that measures as it checks.

:func:`plugscaffold.pipeline.generate` runs the smoke check through the ``worker`` it is
given. Here that worker is :class:`VariantCheck`, which sends the check to one long-lived
process (``_measure_worker.py``: torch imported once for the whole study) that runs the same
check and then measures the model; the verified result goes back to generate(), which builds
the files as ``new`` does. The files are written only after the check passed.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import SmokeError, WorkerDied
from ..options import Check, Output
from ..smoke import _request, _verify

WORKER = Path(__file__).with_name("_measure_worker.py")


class MeasureWorker:
    """The measuring process (started lazily by :meth:`request`, restarted after it died)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.torch_version = ""
        self.errors = tempfile.TemporaryFile(mode="w+")

    def spawn(self) -> None:
        """Start the process; it imports torch while this one generates the first variant."""
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
        )
        self.torch_version = ""

    def _read(self, timeout: float, what: str) -> dict:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else None
        if line is None:
            self.close()
            raise SmokeError(f"measuring timed out after {timeout:g} s while {what}; use a smaller size")
        if not line:
            code = self.proc.wait()
            self.errors.seek(0)
            last = (self.errors.read().strip().splitlines() or ["no output"])[-1]
            self.proc = None
            raise WorkerDied(f"the measuring process ended (exit {code}) while {what}: {last}")
        return json.loads(line)

    def request(self, request: dict, timeout: float) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.spawn()
        if not self.torch_version:
            self.torch_version = self._read(timeout, "starting")["torch"]
        assert self.proc is not None and self.proc.stdin is not None
        self.errors.seek(0)
        self.errors.truncate()
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died: _read says how
        return self._read(timeout, f"measuring {Path(request['path']).parent.name}")

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
            self.proc = None

    def __enter__(self) -> "MeasureWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        self.errors.close()


class VariantCheck:
    """The ``worker`` generate() runs its check with, for one variant: the check and the
    measurement in the study's measuring process. ``figures`` holds the measurement."""

    def __init__(self, worker: MeasureWorker, settings: dict) -> None:
        self.worker, self.settings = worker, settings
        self.figures: dict | None = None
        self.seconds = 0.0

    def run(self, path: Path, plan, check: Check, baseline: str | None = None):
        started = time.perf_counter()
        request = {**_request(path, plan, check), **self.settings}
        result = self.worker.request(request, check.timeout)
        self.seconds = time.perf_counter() - started
        verified = _verify(result, plan, check)  # the contract checks of `new`, one SmokeError line
        self.figures = result["measure"]
        return verified

    def close(self) -> None:  # the measuring process outlives the variant
        pass

    def __enter__(self) -> "VariantCheck":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def measure_variant(worker: MeasureWorker, study, variant, folder: Path, catalog, *, project: bool) -> dict:
    """Generate ``variant`` into ``folder`` (replacing the files a previous run made) and measure it.

    Returns the row's figures; raises a PlugscaffoldError (one line) when the variant breaks a
    contract, and WorkerDied when the measuring process ended under it.
    """
    from ..files import commit, staging
    from ..pipeline import generate
    from .study import generate_options

    height, width = study.check["size"] or (None, None)
    check = Check(height, width, study.check["batch"], float(study.check["timeout"]))
    checker = VariantCheck(worker, {k: study.measure[k] for k in ("threads", "repeats", "warmup")})
    started = time.perf_counter()
    gen = generate(
        project_name(variant.name),
        generate_options(variant.options),
        output=Output.RENDER_PROJECT if project else Output.RENDER,
        check=check,
        catalog=catalog,
        worker=checker,  # type: ignore[arg-type]
    )
    with staging(folder.parent) as stage:
        commit(stage, folder, gen.contents, replace=True)
    figures = dict(checker.figures or {})
    figures.update(
        size=[gen.check.height, gen.check.width],
        batch=gen.check.batch,
        smoke_parameters=gen.smoke.parameters if gen.smoke else None,
    )
    return {
        "figures": figures,
        "timings": {
            "measure_s": round(checker.seconds, 3),
            "generate_s": round(time.perf_counter() - started - checker.seconds, 3),
        },
        "command": gen.plan.spec.command(catalog),
        "class_name": gen.plan.class_name,
    }


def project_name(variant: str) -> str:
    """A project name (an identifier) for a variant's folder name."""
    import hashlib
    import re

    name = re.sub(r"\W+", "_", variant).strip("_") or "variant"
    name = name if name[0].isalpha() else "v_" + name
    if len(name) > 90:
        name = name[:80] + "_" + hashlib.sha256(variant.encode()).hexdigest()[:8]
    return name
