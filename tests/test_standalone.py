"""The headline command, end to end, as a user runs it; the output stands alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HEADLINE = ["new", "my_unet", "--down", "hwd", "--up", "dysample", "--skip", "eff"]

# Runs model.py with plugscaffold made unimportable: any import of it raises ImportError.
STANDALONE = """
import json, runpy, sys
sys.modules["plugscaffold"] = None
ns = runpy.run_path("model.py")
import torch
model = ns["UNet"]()
out = model(torch.randn(1, 3, 35, 19))  # padded to 48x32 inside
out.mean().backward()
print(json.dumps({"shape": list(out.shape), "params": sum(p.numel() for p in model.parameters())}))
"""


def plugscaffold_command() -> list[str]:
    exe = shutil.which("plugscaffold", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "plugscaffold"]


@pytest.fixture(scope="module")
def headline(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("user")
    proc = subprocess.run(
        [*plugscaffold_command(), *HEADLINE],  # the default check: batch 2, 32x48 (2x3 deepest)
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return cwd / "my_unet", proc.stdout


def test_headline_report_lists_plugins_shapes_parameters_flops_and_files(headline):
    project, report = headline
    for text in [
        "Haar wavelet downsampling", "Pattern Recognition 2023", "https://github.com/apple1986/HWD",
        "ICCV 2023", "https://github.com/tiny-smart/dysample", "Computers in Biology and Medicine 2023",
        "bottleneck  bottleneck", "(2, 1024, 2, 3)", "decoder 1", "(2, 2, 32, 48)",
        "Parameters ", "GFLOPs per forward pass", "FlopCounterMode", "my_unet/model.py",
        "my_unet/.plugscaffold.yml",
    ]:  # fmt: skip
        assert text in report, text
    assert "align4: 1x1 projection: eff needs equal inputs: upsampled 1024 vs skip 512" in report


def test_headline_model_runs_standalone_in_a_fresh_interpreter(headline):
    project, _ = headline
    proc = subprocess.run(
        [sys.executable, "-I", "-c", STANDALONE], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["shape"] == [1, 2, 35, 19]
    assert f"Parameters: {result['params']:,}" in (project / "model.py").read_text()


def test_headline_model_imports_only_torch(headline):
    project, _ = headline
    imports = [
        line
        for line in (project / "model.py").read_text().splitlines()
        if line.startswith(("import", "from"))
    ]
    assert imports
    for line in imports:
        assert line.split()[1].split(".")[0] in {"torch", "math", "typing"}, line


def test_headline_model_is_black_clean_and_ruff_pyflakes_clean(headline):
    project, _ = headline
    black = subprocess.run(
        [sys.executable, "-m", "black", "--check", "model.py"], cwd=project, capture_output=True, text=True
    )
    assert black.returncode == 0, black.stderr
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F", "--no-cache", "model.py"],
                          cwd=project, capture_output=True, text=True)  # fmt: skip
    assert ruff.returncode == 0, ruff.stdout


def test_answers_file_records_how_the_project_was_made(headline):
    project, _ = headline
    answers = yaml.safe_load((project / ".plugscaffold.yml").read_text())
    assert answers["command"] == "plugscaffold " + " ".join(HEADLINE)
    assert answers["options"]["down"] == "hwd" and answers["options"]["up"] == "dysample"
    assert answers["plugscaffold_version"] and answers["catalog_version"]
    assert set(answers["modules"]) >= {"down/hwd", "up/dysample", "skip/eff"}
    assert f"{answers['parameters']:,}" in (project / "model.py").read_text()


def test_generation_without_smoke_does_not_import_torch(tmp_path):
    code = (
        "import sys; from plugscaffold.cli import main; "
        "rc = main(['new', 'm', '--no-smoke', '--down', 'hwd', '--up', 'dysample', '--skip', 'eff']); "
        "assert rc == 0; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "model.py").exists()
