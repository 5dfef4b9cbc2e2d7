"""Shared fixtures: the catalog, an in-process CLI runner, and model builders."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# One thread per process, in this one (set before torch is imported) and in every subprocess
# (smoke workers, training runs): the suite's models are small, and on a busy 2-core machine
# threads that wait for each other made the same forward and backward 5 times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The suite's own cache (formatted sources, baseline figures), shared by its processes and
# apart from the user's (see plugscaffold/cache.py).
os.environ.setdefault("PLUGSCAFFOLD_CACHE_DIR", tempfile.mkdtemp(prefix="plugscaffold-test-cache-"))
# User catalogs (plugscaffold add) of the suite live in a temporary config dir, never the
# user's own (the CLI merges $XDG_CONFIG_HOME/plugscaffold/catalog.yaml into the catalog).
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="plugscaffold-test-config-")

from forkrun import ForkedPopen

from plugscaffold import _early, cli, deploy
from plugscaffold.catalog import load_catalog

REPO = Path(__file__).resolve().parent.parent

# The property tests draw the same examples on every run (a run passes or fails for the code,
# not for the draw); `HYPOTHESIS_PROFILE=explore python -m pytest ...` draws new ones.
settings.register_profile("suite", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


#: True in the quick run (-m "not slow"); tests with a count to choose take the smaller one.
QUICK = False


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): two workers per CPU this process may use, at most 4.

    Many tests wait for processes they started (smoke checks, training runs, the deployment
    sweep's workers, SLURM), so one worker per CPU left CPUs idle; and on a machine that other
    work keeps busy, the suite's share of the CPUs grows with its runnable processes (on 2 CPUs
    beside four busy processes: 15 min 24 s with 2 workers, 11 min 13 s with 4). Each worker
    imports torch; more than 4 were not measured."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(2 * cpus, 4))


#: Seconds of worker time per test module (the 16 longest; pytest-xdist, 4 workers, quiet 2-CPU
#: machine; the "wall" column of benchmarks/suite_cpu.py's report). Modules are handed to workers
#: longest first, so that no long module starts last and runs alone at the end (xdist's own order
#: is by number of tests, which put the few long end-to-end tests last); the rest follow in
#: collection order.
MODULE_SECONDS = {
    "test_deploy_sweep.py": 200,
    "test_deploy.py": 155,
    "test_resnet.py": 137,
    "test_ablate.py": 116,
    "test_homework.py": 84,
    "test_project.py": 69,
    "test_generate.py": 59,
    "test_families.py": 44,
    "test_add.py": 42,
    "test_render_cache.py": 37,
    "test_encoders.py": 34,
    "test_copier.py": 29,
    "test_classification_project.py": 18,
    "test_catalog_contracts.py": 18,
    "test_property.py": 16,
    "test_architectures.py": 13,
}


def pytest_collection_modifyitems(config, items):
    """Longest modules first (a stable sort: each module's tests keep their order)."""
    items.sort(key=lambda item: -MODULE_SECONDS.get(item.path.name, 0))


def pytest_configure(config):
    global QUICK
    QUICK = "not slow" in (config.getoption("markexpr", "") or "")


#: The smoke check's worker as plugscaffold starts it (a new interpreter).
REAL_SPAWN = _early.spawn
#: The deployment check of one model, in a worker started as plugscaffold starts it.
REAL_CHECK_MODEL = deploy.check_model


@pytest.fixture(autouse=True, scope="session")
def forked_workers():
    """The smoke checks and one-model deployment checks that tests run in-process (generate,
    the CLI's main) get their worker forked from the test's process, which has imported torch
    (and onnx) already (tests/forkrun.py): the same worker script in its own process, a smoke
    worker started in 0.1 s of CPU instead of 1.6 s. The tests that run ``plugscaffold`` as a
    command start real workers, and so does ``real_smoke_worker``."""
    _early.spawn = functools.partial(REAL_SPAWN, popen=ForkedPopen)
    deploy.check_model = functools.partial(REAL_CHECK_MODEL, popen=ForkedPopen)
    yield
    _early.spawn = REAL_SPAWN
    deploy.check_model = REAL_CHECK_MODEL


@pytest.fixture
def real_smoke_worker(monkeypatch):
    """This test's smoke workers are started as plugscaffold starts them: a new interpreter."""
    monkeypatch.setattr(_early, "spawn", REAL_SPAWN)


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys, monkeypatch, tmp_path):
    """Run ``plugscaffold ARGS`` in-process in ``cwd`` (default: an empty tmp dir)."""

    def run(*args: str, cwd: Path = tmp_path) -> CliResult:
        monkeypatch.chdir(cwd)
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse usage errors and --help
            code = exc.code
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def load_source(source: str, name: str = "generated_model") -> types.ModuleType:
    """Execute generated code as a fresh module (what `import model` would do)."""
    module = types.ModuleType(name)
    exec(compile(source, f"{name}.py", "exec"), module.__dict__)
    return module


def ruff_in_project(folder: Path, names: list[str]) -> str:
    """ruff's findings on the files ``names`` of the training project in ``folder``, as a
    user sees them who runs ruff there: its default settings (``--isolated``: not this
    repo's pyproject) at black's line length (88), with import sorting, which counts the
    project's own modules (config, data, images, ...) as first-party because ruff runs in
    their folder. '' when clean."""
    args = ["check", "--isolated", "--select", "E,W,F,I", "--line-length", "88", "--no-cache"]
    ruff = subprocess.run([sys.executable, "-m", "ruff", *args, "--output-format", "concise", *names],
                          cwd=folder, check=False, capture_output=True, text=True)  # fmt: skip
    assert ruff.returncode in (0, 1), ruff.stderr
    return ruff.stdout if ruff.returncode else ""


def tree(path: Path) -> list[str]:
    """Every path under ``path`` (hidden ones included), to prove nothing was written."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))
