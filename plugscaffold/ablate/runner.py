"""Running a study: every variant generated and measured, trained when asked; resumable.

The study folder::

    OUT/study.yaml          the spec (rerun or resubmit: plugscaffold ablate OUT/study.yaml --out OUT)
    OUT/manifest.json       spec and hash, versions, every variant's options, figures, status, timings
    OUT/results.{csv,md,tex}, params_flops.png, metric_flops.png
    OUT/variants/NAME/      a standalone model.py (+ the training project with --train)
    OUT/tasks.json, OUT/slurm/   the training runs, and what SLURM needs to run them again

The manifest is replaced atomically after every variant, so Ctrl-C or a kill leaves every
finished row; a rerun skips rows whose hash (model, check and measure settings) is unchanged,
and training runs whose results are recorded for the same training settings.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

from .. import __version__
from ..catalog import Catalog
from ..errors import PlugscaffoldError, TargetError
from ..files import commit, staging
from .measure import MeasureWorker, WorkerDied, measure_variant
from .study import Study

MANIFEST = "manifest.json"
FINAL = ("done", "skipped")
#: Extra measurements per finished variant (e.g. a deployment column): each is called with
#: (variant folder, Variant, row) and returns {column: value}, stored in row["extra"] and shown
#: in the tables. Empty by default.
ROW_HOOKS: list[Callable[[Path, object, dict], dict]] = []


def write_files(out: Path, files: dict[str, str]) -> None:
    """Write study-folder files through files.commit: each one replaced whole, never half-written."""
    with staging(out) as stage:
        commit(stage, out, files, replace=True)


class Progress:
    """One line per event on stderr: counts by status and the time left."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total, self.stream = total, stream or sys.stderr
        self.durations: list[float] = []

    def show(self, rows: dict, name: str, event: str, unit: str = "variant") -> None:
        counts = {
            s: sum(r.get("status") == s for r in rows.values())
            for s in ("done", "running", "failed", "skipped")
        }
        left = self.total - counts["done"] - counts["skipped"] - counts["failed"]
        eta = (
            f"~{statistics.mean(self.durations) * max(left, 0):.0f} s left"
            if self.durations
            else "time left unknown"
        )
        status = ", ".join(f"{n} {s}" for s, n in counts.items())
        finished = counts["done"] + counts["skipped"] + counts["failed"]
        print(f"[{finished}/{self.total} {unit}s: {status}; {eta}] {name}: {event}",
              file=self.stream, flush=True)  # fmt: skip


def load_manifest(out: Path) -> dict:
    path = out / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(f"{path} cannot be read ({exc}); move it away to start the study afresh") from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), dict):
        raise TargetError(f"{path} is not a study manifest; move it away to start the study afresh")
    return data


class Run:
    """One run of a study over its folder (see the module's docstring)."""

    def __init__(self, study: Study, out: str | Path, catalog: Catalog, *, train: bool = False,
                 stream: TextIO | None = None) -> None:  # fmt: skip
        self.study, self.catalog, self.train = study, catalog, train
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise TargetError(f"{self.out} is a file, not a study folder; pass another --out")
        if not self.out.parent.is_dir():
            raise TargetError(f"{self.out.parent} does not exist; create it or pass another --out")
        self.out.mkdir(exist_ok=True)
        self.stream = stream or sys.stderr
        old = load_manifest(self.out)
        self.rows: dict[str, dict] = {}
        retired = list(old.get("retired", []))
        for name, row in old.get("variants", {}).items():
            if name not in {v.name for v in study.variants}:
                retired.append(name)
        for variant in study.variants:
            row = old.get("variants", {}).get(variant.name)
            if (
                row is None
                or row.get("hash") != variant.hash
                or (train and row.get("status") == "done" and not row.get("project"))
            ):
                row = {"status": "pending"}
            elif row.get("status") not in FINAL:
                row["status"] = "pending"
            row.update(
                hash=variant.hash,
                options=variant.options,
                changes=variant.changes,
                canonical=variant.canonical,
            )
            self.rows[variant.name] = row
        self.manifest = {
            "study": study.data,
            "spec_hash": study.hash,
            "name": study.name,
            "design": study.design,
            "plugscaffold": __version__,
            "catalog": catalog.version,
            "torch": old.get("torch"),
            "started": old.get("started") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": {"check": study.check, "measure": study.measure, "train": study.train},
            "variants": self.rows,
            "retired": sorted(set(retired) - set(self.rows)),
        }

    def save(self) -> None:
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write_files(self.out, {MANIFEST: json.dumps(self.manifest, indent=1, sort_keys=False) + "\n"})

    def measure_all(self) -> None:
        """Generate and measure every row that is not finished, one after another."""
        import yaml

        write_files(self.out, {"study.yaml": yaml.safe_dump(self.study.data, sort_keys=False)})
        pending = [v for v in self.study.variants if self.rows[v.name]["status"] not in FINAL]
        progress = Progress(len(self.study.variants), self.stream)
        if not pending:
            progress.show(self.rows, self.study.name, "every variant is measured already")
        (self.out / "variants").mkdir(exist_ok=True)
        with MeasureWorker() as worker:
            if pending:
                worker.spawn()
            for variant in pending:
                row = self.rows[variant.name]
                for key in ("figures", "reason", "timings", "train", "extra"):
                    row.pop(key, None)
                row["status"] = "running"
                progress.show(self.rows, variant.name, "generating and measuring")
                self.save()
                started = time.perf_counter()
                folder = self.out / "variants" / variant.name
                try:
                    row.update(
                        measure_variant(worker, self.study, variant, folder, self.catalog, project=self.train)
                    )
                    row.update(status="done", project=self.train)
                    extra = {k: v for hook in ROW_HOOKS for k, v in hook(folder, variant, row).items()}
                    if extra:
                        row["extra"] = extra
                except WorkerDied as exc:
                    row.update(status="failed", reason=str(exc))
                except PlugscaffoldError as exc:  # the variant breaks a contract: a skipped row
                    row.update(status="skipped", reason=str(exc))
                except BaseException:  # Ctrl-C, SIGTERM: the row is redone by the next run
                    row.update(status="interrupted")
                    self.save()
                    raise
                progress.durations.append(time.perf_counter() - started)
                if worker.torch_version:
                    self.manifest["torch"] = worker.torch_version
                self.save()
                event = row["status"] + (f": {row['reason']}" if row.get("reason") else "")
                progress.show(self.rows, variant.name, event)

    def train_all(self, jobs: int = 1, launcher: str = "local", slurm: dict | None = None) -> None:
        """Train every measured variant for every seed that has no recorded result."""
        from .train import collect, pending_tasks, run_local, run_slurm

        tasks = pending_tasks(self)
        if launcher == "slurm":
            run_slurm(self, tasks, slurm or self.study.slurm)
        elif tasks:
            run_local(self, tasks, jobs)
        collect(self)
        self.save()


def run_study(study: Study, out: str | Path, catalog: Catalog, *, train: bool = False, jobs: int = 1,
              launcher: str = "local", slurm: dict | None = None,
              stream: TextIO | None = None) -> Run:  # fmt: skip
    """Measure (and with ``train`` train) every variant of ``study`` in ``out``; write the tables."""
    from .tables import write_tables

    run = Run(study, out, catalog, train=train, stream=stream)
    try:
        run.measure_all()
        if train:
            run.train_all(jobs=jobs, launcher=launcher, slurm=slurm)
    finally:
        if any(row.get("status") == "done" for row in run.rows.values()):
            write_tables(run)
    return run
