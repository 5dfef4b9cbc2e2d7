"""Deployment checks: the worker's paths, the headline models through ONNX (onnxruntime) and
torch.export, `plugscaffold check`, `new --check`, `list --deploy` and the training project's
export.py. The catalog's deploy record is swept in test_deploy_sweep.py.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch
from forkrun import run_script

from plugscaffold import _deploy_worker as worker
from plugscaffold import deploy
from plugscaffold.catalog import DEPLOY_PATHS, load_catalog
from plugscaffold.options import Output
from plugscaffold.pipeline import generate
from plugscaffold.smoke import Check

CATALOG = load_catalog()


def load_model(path: Path, class_name: str) -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location(f"deploy_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)()


def test_a_path_that_fails_is_reported_with_its_first_error_line():
    """A module whose forward branches on a tensor's value cannot be exported or captured whole."""

    class DataDependent(torch.nn.Module):
        def forward(self, x):
            if x.mean() > 0:
                return x * 2
            return x

    x = torch.ones(2, 3, 8, 8)
    results = worker.check_paths(DataDependent(), [(x,), (x + 1,)], ["script", "export", "compile"], "eager")
    assert results["script"]["ok"] and results["script"]["max_diff"] == 0.0
    for path in ("export", "compile"):
        assert not results[path]["ok"]
        error = results[path]["error"]
        assert error and "\n" not in error and len(error) <= 300, error
    assert "without fullgraph it compiles, with graph breaks" in results["compile"]["error"]


def test_a_traced_graph_that_ignores_a_new_size_fails_the_comparison():
    class SizeAsConstant(torch.nn.Module):
        def forward(self, x):
            return x * float(x.shape[-1])  # float() bakes the traced width in as a constant

    examples = [(torch.ones(2, 1, 4, 4),), (torch.ones(3, 1, 5, 6),)]
    result = worker.check_paths(SizeAsConstant(), examples, ["trace"])["trace"]
    assert not result["ok"] and result["error"].startswith("at input 3x1x5x6: ValueError: output differs")


def test_a_study_table_gets_one_cell_per_model():
    ok = deploy.PathResult("onnx", True, None, 0.0, 1.0)
    bad = deploy.PathResult("script", False, "RuntimeError: ...", None, 0.1)
    assert deploy.checks_cell([ok]) == "ok"
    assert (
        deploy.checks_cell([bad, ok, deploy.PathResult("trace", False, "x", None, 0.1)]) == "no: script,trace"
    )


# --- models ---------------------------------------------------------------------------------

#: Models whose ONNX export (dynamic batch and size) and torch.export the suite guarantees: the
#: headline UNet, a classifier and a UNet on a classifier's encoder (narrow and shallow, to keep
#: it quick: export and ONNX time grows with the graph, and two levels hold every plug-in's
#: position; width 32 is the least EFF's 32 groups accept).
MODELS = {
    "headline_unet": {"down": "hwd", "up": "dysample", "skip": "eff", "width": 32, "depth": 2},
    "resnet18": {"arch": "resnet", "depth": 18, "width": 8},
    "unet_on_resnet18": {"encoder": "resnet18", "depth": 3},
}
#: Inputs the ONNX file must take: batch 1 to 3, sizes on and off the model's grid.
ONNX_SHAPES = [(1, 64, 64), (3, 37, 50), (2, 96, 80)]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_onnx_with_dynamic_batch_and_size_matches_eager_in_onnxruntime_and_torch_export_succeeds(
    name, tmp_path
):
    gen = generate(name, MODELS[name], parent=tmp_path, smoke=False)
    model = load_model(tmp_path / name / "model.py", gen.plan.class_name).eval()
    channels = gen.plan.input.channels
    torch.manual_seed(0)
    example = [(torch.randn(2, channels, 64, 64),)]
    cache: dict = {}
    exported = worker._run_export(model, example, cache)  # torch.export.export, dynamic batch and size
    run_onnx = worker._run_onnx(model, example, cache)  # the dynamo exporter on that program
    for batch, height, width in ONNX_SHAPES:
        x = torch.randn(batch, channels, height, width)
        with torch.no_grad():
            expected = model(x)
            assert (exported(x) - expected).abs().max().item() <= 1e-4, (batch, height, width)
        got = run_onnx(x)
        assert got.shape == expected.shape
        assert (got - expected).abs().max().item() <= 1e-4, (batch, height, width)


# --- the command line -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_project(tmp_path_factory):
    """The default UNet (max pooling, transposed convolutions): these tests are about the
    command; what the plug-in modules pass is the sweep's and the headline test's business
    (a dysample/hwd model here would double the check's torch.export and ONNX time)."""
    parent = tmp_path_factory.mktemp("deploy")
    generate("m", {"width": 8, "depth": 2}, parent=parent, smoke=False)
    return parent / "m"


@pytest.mark.slow
def test_check_prints_a_table_of_every_path_and_exits_0(run_cli, small_project):
    result = run_cli("check", str(small_project), "--size", "32", "--compile-backend", "eager")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"{small_project}/model.py: batch 2, 32x32 example input"
    assert "|out - eager| <= 1e-4 + 1e-4 * |eager|" in lines[1]
    rows = {line.split()[0]: line.split() for line in lines[3:8]}
    assert list(rows) == list(DEPLOY_PATHS)
    assert all(row[1] == "ok" for row in rows.values()), result.out
    assert lines[-1] == "5 of 5 paths passed"


@pytest.mark.slow
def test_check_of_an_edited_model_reports_each_failure_and_exits_1(run_cli, small_project, tmp_path):
    edited = tmp_path / "edited"
    edited.mkdir()
    for name in ("model.py", ".plugscaffold.yml"):
        (edited / name).write_text((small_project / name).read_text())
    source = (edited / "model.py").read_text()
    marker = "        x = self.head(x)"
    assert marker in source
    # a value-dependent branch: TorchScript takes it, torch.export and fullgraph capture cannot
    (edited / "model.py").write_text(
        source.replace(marker, "        if x.mean() > 100:\n            x = x * 2\n" + marker)
    )
    result = run_cli("check", str(edited), "--paths", "script,export,compile", "--size", "32",
                     "--compile-backend", "eager")  # fmt: skip
    assert result.code == 1
    rows = {line.split()[0]: line for line in result.out.splitlines()[3:6]}
    assert rows["script"].split()[1] == "ok"
    for path in ("export", "compile"):
        result_cell, _, error = rows[path].split(maxsplit=1)[1].partition(" s  ")
        assert result_cell.startswith("FAIL") and len(error.strip()) > 20, rows[path]
    assert result.out.splitlines()[-1] == "1 of 3 paths passed; failed: export, compile"


@pytest.mark.slow
def test_new_with_check_writes_the_model_and_prints_the_table(run_cli, tmp_path):
    result = run_cli(
        "new", "n", "--width", "8", "--depth", "2", "--size", "32", "--no-smoke", "--check", "export,onnx"
    )
    assert result.code == 0, result.err
    assert (tmp_path / "n" / "model.py").is_file()
    assert "Deployment checks" in result.out and result.out.rstrip().endswith("2 of 2 paths passed")


def test_an_unknown_path_is_one_line_with_a_suggestion_and_nothing_is_written(run_cli, tmp_path):
    result = run_cli("new", "n", "--width", "8", "--depth", "2", "--check", "onx")
    assert result.code == 1 and not (tmp_path / "n").exists()
    assert result.err.strip().splitlines() == [
        "plugscaffold: error: unknown deployment path 'onx' (did you mean 'onnx'?); "
        "choose from: script, trace, export, compile, onnx or all"
    ]
    assert run_cli("check", str(tmp_path), "--paths", "script,tracer").err.count("did you mean 'trace'") == 1


def test_a_missing_onnx_package_is_one_line_naming_it(run_cli, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a)
    )
    result = run_cli("new", "n", "--width", "8", "--depth", "2", "--check", "all")
    assert result.code == 1 and not (tmp_path / "n").exists()
    assert result.err.strip().splitlines() == [
        "plugscaffold: error: the onnx check needs the package(s) onnxruntime; "
        "install them with: pip install onnx onnxscript onnxruntime"
    ]
    deploy.require_packages(["script", "trace", "export", "compile"])  # only onnx needs them


def test_check_of_a_directory_without_answers_is_one_line(run_cli, tmp_path):
    result = run_cli("check", str(tmp_path))
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1
    assert ".plugscaffold.yml" in result.err


def table_rows(out: str) -> list[str]:
    """The rows of `plugscaffold list` (the notes follow a blank line)."""
    return out.split("\n\n")[0].splitlines()[1:]


def test_list_filters_by_deployment_path(run_cli):
    for slot, paths in (("up", "onnx"), ("bottleneck", "onnx"), ("up", "script,export")):
        out = run_cli("list", slot, "--deploy", paths).out
        names = {row.split()[0] for row in table_rows(out)}
        wanted = {e.name for e in CATALOG.in_slot(slot) if set(paths.split(",")) <= set(e.deploy.supported)}
        assert names == wanted and names, (slot, paths)
    assert "ppm" not in run_cli("list", "bottleneck", "--deploy", "onnx").out  # recorded as unsupported
    every = table_rows(run_cli("list", "--deploy", "all").out)
    assert every and all(row.split()[-1] == "all" for row in every)
    assert "did you mean 'onnx'" in run_cli("list", "--deploy", "onxx").err


def test_show_says_which_paths_pass(run_cli):
    out = run_cli("show", "dysample").out
    assert "deploy       passes: " in out


# --- the training project's export.py -------------------------------------------------------


@pytest.mark.slow
def test_the_projects_export_writes_onnx_for_the_trained_checkpoint_and_checks_it(tmp_path):
    # the default UNet: what export.py does is the test; each plug-in's ONNX export is the sweep's
    gen = generate("p", {"width": 8, "depth": 2}, parent=tmp_path,
                   output=Output.WRITE_PROJECT, check=Check(32, 32, 2), smoke=False)  # fmt: skip
    project = tmp_path / "p"
    assert "export.py" in gen.contents
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train = [
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--size",
        "32",
        "--batch-size",
        "2",
        "--val-samples",
        "4",
    ]
    trained = run_script(["train.py", *train], project, env=env, timeout=300)  # tests/forkrun.py
    assert trained.returncode == 0, trained.stderr
    proc = run_script(["export.py", "--out", "deploy/p.onnx"], project, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote deploy/p.onnx (ONNX opset ")
    assert proc.stdout.count("onnxruntime matches PyTorch at input") == 2
    # the file holds the checkpoint's weights: onnxruntime here gives the trained model's output
    import onnxruntime

    model = load_model(project / "model.py", gen.plan.class_name)
    model.load_state_dict(torch.load(project / "runs" / "best.pt", weights_only=True)["model"])
    x = torch.randn(1, 3, 40, 24)
    session = onnxruntime.InferenceSession(
        str(project / "deploy" / "p.onnx"), providers=["CPUExecutionProvider"]
    )
    got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    with torch.no_grad():
        assert (got - model.eval()(x)).abs().max().item() <= 1e-4
    missing = run_script(["export.py", "--checkpoint", "none.pt"], project, env=env, timeout=300)
    assert missing.returncode == 1
    assert (
        missing.stderr == "export.py: error: --checkpoint none.pt: no such file; train first "
        "(python train.py) or pass the checkpoint to export\n"
    )
