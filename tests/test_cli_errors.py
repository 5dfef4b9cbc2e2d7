"""Bad input: one line naming what is wrong and the fix, the right exit code, nothing written."""

from __future__ import annotations

import pytest
from conftest import tree

USER_ERRORS = [
    # (arguments, words the one-line message must contain)
    (["new", "m", "--up", "dysampel"], ["unknown up module 'dysampel'", "did you mean 'dysample'"]),
    (["new", "m", "--down", "dysample"], ["'dysample' is a up module", "--up dysample"]),
    (["new", "m", "--up", "dysample:groups=three"], ["'three' is not a valid int", "groups"]),
    (["new", "m", "--up", "dysample:grups=8"], ["no hyper-parameter 'grups'", "did you mean 'groups'"]),
    (["new", "m", "--up", "dysample:style=lq"], ["style=lq is not one of lp, pl"]),
    (["new", "m", "--up", "dysample:style"], ["is not KEY=VALUE"]),
    (["new", "m", "--attn", "none:reduction=4"], ["takes no hyper-parameters"]),
    (["new", "m", "--skip", "eff", "--width", "48"],
     ["skip slot at decoder 1", "'eff'", "% groups == 0", "groups=32, in_channels=48",
      "fix: use --width 64"]),
    (["new", "m", "--up", "dysample:groups=5", "--width", "16"],
     ["up slot at decoder", "'dysample'", "groups=5", "fix:"]),
    (["new", "m", "--attn", "se", "--width", "8"],
     ["attn at enc of encoder 1", "in_channels // reduction >= 1", "in_channels=8", "fix: use --width 16"]),
    (["new", "m", "--depth", "2", "--attn", "se/cbam~cgafusion@bottleneck", "--size", "12x20"],
     ["bottleneck: 'cgafusion' needs feature maps of at least 4x4", "bottleneck_attn sees 3x5",
      "use --size 16"]),
    (["new", "m", "--down", "blurpool", "--size", "16"],
     ["'blurpool' needs feature maps of at least 4x4", "down4 sees 2x2", "use --size 32"]),
    (["new", "m", "--block", "bottleneck", "--conv", "pconv", "--width", "8"],
     ["conv slot at encoder 1 (a 2 -> 2 conv inside 'bottleneck')", "out_channels // n_div >= 1",
      "fix: use --width 16"]),
    (["new", "../escape"], ["project name '../escape' is not a safe identifier"]),
    (["new", "a/b"], ["not a safe identifier"]),
    (["new", "1model"], ["not a safe identifier"]),
    (["new", "m", "--depth", "9"], ["--depth must be between 1 and 6"]),
    (["new", "m", "--size", "big"], ["--size 'big' is not a size"]),
    (["new", "m", "--dir", "nowhere"], ["output directory nowhere does not exist"]),
    (["new", "m", "--dir", "/dev/null"], ["output directory /dev/null is a file, not a directory"]),
    (["show", "hwdd"], ["no module named 'hwdd'", "did you mean 'hwd'"]),
    (["list", "dwn"], ["unknown slot 'dwn'", "did you mean 'down'"]),
]  # fmt: skip


@pytest.mark.parametrize("args,words", USER_ERRORS, ids=[" ".join(a) for a, _ in USER_ERRORS])
def test_user_errors_are_one_line_exit_1_and_write_nothing(args, words, run_cli, tmp_path):
    before = tree(tmp_path)
    result = run_cli(*args, "--no-smoke") if args[0] == "new" else run_cli(*args)
    assert result.code == 1
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("plugscaffold: error: "), result.err
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.err
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    "args",
    [["new"], ["new", "m", "--bogus"], ["frobnicate"], ["new", "m", "--width", "wide"], []],
    ids=["missing-name", "unknown-flag", "unknown-command", "not-an-int", "no-command"],
)
def test_usage_errors_are_one_line_exit_2(args, run_cli, tmp_path):
    result = run_cli(*args)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert "--help" in result.err
    assert tree(tmp_path) == []


def test_existing_directory_is_refused_without_force_and_kept(run_cli, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.py").write_text("# my edits\n")
    result = run_cli("new", "m", "--no-smoke")
    assert result.code == 1
    assert "already exists; pass --force" in result.err and len(result.err.splitlines()) == 1
    assert (tmp_path / "m" / "model.py").read_text() == "# my edits\n"


def test_force_regenerates_the_files_and_keeps_other_files(run_cli, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.py").write_text("# old\n")
    (tmp_path / "m" / "notes.txt").write_text("mine\n")
    result = run_cli("new", "m", "--no-smoke", "--force", "--width", "8")
    assert result.code == 0, result.err
    assert "class UNet(nn.Module)" in (tmp_path / "m" / "model.py").read_text()
    assert (tmp_path / "m" / "notes.txt").read_text() == "mine\n"


def test_a_failing_smoke_check_writes_nothing(run_cli, tmp_path, monkeypatch):
    # BatchNorm cannot train on one value per channel: batch 1 at 1x1 fails inside the model
    result = run_cli("new", "m", "--width", "8", "--depth", "1", "--size", "1", "--batch", "1")
    assert result.code == 1
    assert result.err.startswith("plugscaffold: error: smoke check failed in ")
    assert len(result.err.splitlines()) == 1
    assert tree(tmp_path) == []


def test_stdout_prints_the_model_and_writes_nothing(run_cli, tmp_path):
    result = run_cli("new", "m", "--width", "8", "--no-smoke", "--stdout")
    assert result.code == 0
    assert result.out.startswith('"""m: UNet') and "class UNet(nn.Module):" in result.out
    assert "smoke check skipped" in result.err
    assert tree(tmp_path) == []
