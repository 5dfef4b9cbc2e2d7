"""The wheel ships catalog.yaml and templates/: `plugscaffold new` works from an install."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from conftest import REPO


@pytest.mark.slow  # builds a wheel and installs it
def test_wheel_contains_the_data_and_generates_from_another_directory(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(REPO)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = dist.glob("plugscaffold-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "plugscaffold/catalog.yaml" in names
    assert "plugscaffold/templates/unet/model.py.jinja" in names
    assert "plugscaffold/modules/hwd.py" in names and "plugscaffold/_smoke_worker.py" in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a wheel is a zip laid out as site-packages
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = (
        "import plugscaffold, sys; from plugscaffold.cli import main; "
        f"assert plugscaffold.__file__.startswith({str(site)!r}), plugscaffold.__file__; "
        "sys.exit(main(['new', 'w', '--width', '8', '--depth', '2', '--size', '32', '--up', 'dysample']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=work, capture_output=True, text=True, env={"PYTHONPATH": str(site)}
    )
    assert proc.returncode == 0, proc.stderr
    assert "forward and backward passed" in proc.stdout
    assert (work / "w" / "model.py").exists()
