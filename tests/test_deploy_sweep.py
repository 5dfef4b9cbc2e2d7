"""The catalog's deployment record against what each module does on CPU: every module through
TorchScript (script, trace), torch.export, torch.compile and ONNX (onnxruntime), in its own test
module so that pytest-xdist (--dist loadscope) runs this sweep beside the rest of the deployment
tests instead of before them.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from plugscaffold import _deploy_worker as worker
from plugscaffold import deploy
from plugscaffold.catalog import DEPLOY_PATHS, load_catalog

CATALOG = load_catalog()
ENTRIES = sorted(CATALOG.entries)


# --- the catalog's record -------------------------------------------------------------------


def test_the_worker_the_library_and_the_catalog_name_the_same_paths():
    assert worker.PATHS == deploy.PATHS == DEPLOY_PATHS


def test_every_entry_records_every_path_and_a_reason_for_each_it_does_not_pass():
    for key, entry in CATALOG.entries.items():
        assert entry.deploy is not None, f"{key} has no deploy record"
        assert set(entry.deploy.supported) | set(entry.deploy.unsupported) == set(DEPLOY_PATHS), key
        for path, reason in entry.deploy.unsupported.items():
            assert len(reason.split()) >= 5, f"{key}: '{path}' needs a reason, not '{reason}'"


SWEEP = "test_recorded_deployment_support_is_what_the_module_does_on_cpu"


@pytest.fixture(scope="module")
def observed(request):
    """Every path of every catalog module this run selected, checked once (two worker
    processes, each importing torch and building the ONNX exporter's tables once)."""
    keys = [item.callspec.params["key"] for item in request.session.items if item.originalname == SWEEP]
    return deploy.check_entries([CATALOG.entries[key] for key in keys])


@pytest.mark.slow
@pytest.mark.parametrize("key", ENTRIES)
def test_recorded_deployment_support_is_what_the_module_does_on_cpu(key, observed):
    """Each module at a tiny width runs every path (torch.compile: graph capture with
    fullgraph=True and the eager backend); the paths that match eager are the record."""
    entry = CATALOG.entries[key]
    check = observed[key]
    assert check.error is None, f"{key}: {check.error}"
    assert [r.path for r in check.results] == list(DEPLOY_PATHS)
    observed_paths = tuple(r.path for r in check.results if r.ok)
    failures = {r.path: r.error for r in check.results if not r.ok}
    assert (
        observed_paths == entry.deploy.supported
    ), f"{key}: the catalog records {entry.deploy.supported}, observed {observed_paths}; failures: {failures}"


@pytest.mark.slow
def test_a_module_that_cannot_be_built_or_kills_its_worker_fails_alone(tmp_path, monkeypatch):
    """The sweep's worker answers a module it cannot build with the error; one that kills the
    worker gets a crash report and the next module a fresh worker."""
    source = tmp_path / "broken_modules.py"
    source.write_text("import os\nimport torch\n\n\nclass Exit(torch.nn.Module):\n"
                      "    def forward(self, x):\n        os._exit(3)\n")  # fmt: skip
    real = deploy.entry_request
    codes = {"x/missing": "Missing()", "x/exit": "Exit()"}

    def request(entry, workdir, seed=0):
        if entry.key not in codes:
            return real(entry, workdir, seed)
        return {"key": entry.key, "path": str(source), "code": codes[entry.key], "shapes": [[1, 1, 4, 4]],
                "inputs": 1, "seed": seed}  # fmt: skip

    monkeypatch.setattr(deploy, "entry_request", request)
    entries = [SimpleNamespace(key="x/missing"), SimpleNamespace(key="x/exit"), CATALOG.entries["act/relu"]]
    checks = deploy.check_entries(entries, ["script", "trace"], jobs=1)
    assert list(checks) == ["x/missing", "x/exit", "act/relu"]
    assert checks["x/missing"].error == "could not build the module: NameError: name 'Missing' is not defined"
    assert checks["x/exit"].error.startswith("deployment check crashed (exit 3)")
    assert checks["act/relu"].error is None and all(r.ok for r in checks["act/relu"].results)
