"""The copier template: `copier copy` (the real command) gives the bytes `plugscaffold new` gives,
and `copier update` from a new tag of the template keeps a user edit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

COPIER = [sys.executable, "-m", "copier"]
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
}  # fmt: skip


def run(cmd, cwd, check=True):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=GIT_ENV, timeout=600)
    if check:
        assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc


def git(cwd, *args):
    return run(["git", *args], cwd)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A tagged git checkout of this repository's template (copier.yml + templates/copier)."""
    root = tmp_path_factory.mktemp("template")
    shutil.copy(REPO / "copier.yml", root / "copier.yml")
    shutil.copytree(REPO / "templates" / "copier", root / "templates" / "copier")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "template v1")
    git(root, "tag", "v1")
    return root


@pytest.mark.slow  # copier in a subprocess
def test_copier_copy_is_byte_identical_to_plugscaffold_new(template, tmp_path, run_cli):
    data = ["name=twin", "width=16", "depth=2", "down=hwd", "up=dysample", "up_params=style=pl", "skip=add",
            "attn=se+cbam^@dec; cbam@down", "size=32"]  # fmt: skip
    run([*COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "v1", *[f"--data={d}" for d in data],
         str(template), str(tmp_path / "copied")], tmp_path)  # fmt: skip
    new = run_cli("new", "twin", "--width", "16", "--depth", "2", "--down", "hwd", "--up",
                  "dysample:style=pl", "--skip", "add", "--attn", "se+cbam^@dec", "--attn", "cbam@down",
                  "--size", "32")  # fmt: skip
    assert new.code == 0 and "forward and backward passed" in new.out, new.err
    for name in ("model.py", ".plugscaffold.yml"):
        assert (tmp_path / "copied" / name).read_bytes() == (tmp_path / "twin" / name).read_bytes(), name
    assert (tmp_path / "copied" / ".copier-answers.yml").exists()  # copier's own record, for copier update


@pytest.mark.slow  # copier in a subprocess
def test_copier_project_question_gives_the_files_of_new_project(template, tmp_path, run_cli):
    run([*COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "v1", "--data=name=seg", "--data=width=8",
         "--data=depth=2", "--data=size=32", "--data=project=true", str(template), str(tmp_path / "copied")],
        tmp_path)  # fmt: skip
    made = run_cli("new", "seg", "--width", "8", "--depth", "2", "--size", "32", "--project")
    assert made.code == 0, made.err
    made = sorted(p.name for p in (tmp_path / "seg").iterdir())
    assert "train.py" in made and "architecture.svg" in made
    for name in made:
        assert (tmp_path / "copied" / name).read_bytes() == (tmp_path / "seg" / name).read_bytes(), name
    plain = tmp_path / "plain"
    run([*COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "v1", "--data=name=seg", "--data=width=8",
         "--data=depth=2", "--data=smoke=false", str(template), str(plain)], tmp_path)  # fmt: skip
    assert not (plain / "train.py").exists() and (plain / "model.py").exists()


def test_copier_validators_give_the_cli_one_line_errors_and_write_nothing(template, tmp_path):
    proc = run([*COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "v1", "--data=name=bad",
                "--data=skip=eff", "--data=width=48", "--data=smoke=false", str(template),
                str(tmp_path / "bad")], tmp_path, check=False)  # fmt: skip
    assert proc.returncode != 0
    assert (
        "'eff' needs " in proc.stderr
        and "% groups == 0" in proc.stderr
        and "fix: use --width 64" in proc.stderr
    )
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow  # copier copy and copier update in subprocesses
def test_copier_update_after_a_new_template_tag_keeps_a_user_edit(template, tmp_path):
    project = tmp_path / "proj"
    run([*COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "v1", "--data=name=proj", "--data=width=8",
         "--data=depth=2", "--data=smoke=false", str(template), str(project)], tmp_path)  # fmt: skip
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "generated")
    model = project / "model.py"
    model.write_text(
        model.read_text().replace("class UNet(nn.Module):", "# tuned for dataset B\nclass UNet(nn.Module):")
    )
    git(project, "commit", "-qam", "my edit")

    (template / "templates" / "copier" / "CHANGES.md").write_text("template v2\n")
    git(template, "add", "-A")
    git(template, "commit", "-qm", "template v2")
    git(template, "tag", "v2")

    run([*COPIER, "update", "--trust", "--defaults"], project)
    assert "# tuned for dataset B\nclass UNet(nn.Module):" in model.read_text()
    assert (project / "CHANGES.md").read_text() == "template v2\n"
    assert "_commit: v2" in (project / ".copier-answers.yml").read_text()


def test_update_keeps_copier_answers_in_step_and_checks_at_their_size(run_cli, tmp_path):
    # A project made by `copier copy` (its answers file as copier writes it), then updated
    # by plugscaffold: copier's record follows, and the size answered in copier is kept.
    from plugscaffold.update import update

    assert run_cli("new", "twin", "--width", "16", "--depth", "2", "--no-smoke").code == 0
    answers = tmp_path / "twin" / ".copier-answers.yml"
    answers.write_text(
        "# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n"
        "_commit: v1\n_src_path: /templates/plugscaffold\nname: twin\narch: unet\ndepth: 2\n"
        "up: convtranspose\nwidth: 16\nproject: false\nsmoke: true\nsize: '64'\n"
    )
    result = update(tmp_path / "twin", {"up": "dysample:style=pl", "attn": ["se@dec"]}, smoke=False)
    assert (result.generated.check.height, result.generated.check.width) == (64, 64)
    text = answers.read_text()
    assert text.startswith("# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n")
    data = yaml.safe_load(text)
    assert data["_commit"] == "v1" and data["_src_path"] == "/templates/plugscaffold"
    assert data["up"] == "dysample" and data["up_params"] == "style=pl"
    assert data["attn"] == "se@dec" and data["size"] == "64" and data["width"] == 16
    recorded = yaml.safe_load((tmp_path / "twin" / ".plugscaffold.yml").read_text())
    assert recorded["options"]["up"] == "dysample:style=pl"


COPIED = (
    "# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n"
    "_commit: v1\n_src_path: /templates/plugscaffold\nname: {name}\narch: unet\ndepth: 2\n"
    "width: 8\nproject: {project}\nsmoke: true\nsize: ''\n"
)


def test_update_records_the_check_size_it_used_when_copier_left_it_empty(run_cli, tmp_path):
    # A training project whose size was left empty in copier is checked at the size it trains
    # at (256): the update records that size in copier's answers, as in .plugscaffold.yml.
    from plugscaffold.update import update

    assert run_cli("new", "seg", "--width", "8", "--depth", "2", "--project", "--no-smoke").code == 0
    answers = tmp_path / "seg" / ".copier-answers.yml"
    answers.write_text(COPIED.format(name="seg", project="true"))
    result = update(tmp_path / "seg", {"up": "bilinear"}, smoke=False)
    check = yaml.safe_load((tmp_path / "seg" / ".plugscaffold.yml").read_text())["project"]["check"]
    used = (result.generated.check.height, result.generated.check.width)
    assert used == (check["height"], check["width"]) == (256, 256)
    assert yaml.safe_load(answers.read_text())["size"] == "256"
    assert "--project" in yaml.safe_load((tmp_path / "seg" / ".plugscaffold.yml").read_text())["command"]

    # A model alone is checked at the smallest size that exercises every stage, which the
    # check chooses anew for every model: not an answer, so both records keep no size (a
    # recorded 16x20 would stay after --depth 4, too small to exercise the deeper stages).
    assert run_cli("new", "alone", "--width", "8", "--depth", "2", "--no-smoke").code == 0
    answers = tmp_path / "alone" / ".copier-answers.yml"
    answers.write_text(COPIED.format(name="alone", project="false"))
    result = update(tmp_path / "alone", {"up": "bilinear"}, smoke=False)
    assert result.generated.check.auto
    assert yaml.safe_load(answers.read_text())["size"] == ""
    assert "--size" not in yaml.safe_load((tmp_path / "alone" / ".plugscaffold.yml").read_text())["command"]


@pytest.mark.slow  # copier in a subprocess
def test_copier_copy_of_a_classifier_equals_plugscaffold_new(template, tmp_path, run_cli):
    """arch=resnet: copier asks the ResNet's options (not the UNet's) and writes new's bytes."""
    data = ["name=clf", "arch=resnet", "depth=18", "width=8", "classes=10", "attn=eca@branch", "size=32"]
    run([*COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "v1", *[f"--data={d}" for d in data],
         str(template), str(tmp_path / "copied")], tmp_path)  # fmt: skip
    made = run_cli("new", "clf", "--arch", "resnet", "--depth", "18", "--width", "8", "--classes", "10",
                   "--attn", "eca@branch", "--size", "32")  # fmt: skip
    assert made.code == 0, made.err
    for name in ("model.py", ".plugscaffold.yml"):
        assert (tmp_path / "copied" / name).read_bytes() == (tmp_path / "clf" / name).read_bytes(), name
    assert "class BasicBlock" in (tmp_path / "copied" / "model.py").read_text()


def test_every_project_file_has_a_copier_stub():
    """copier renders only the files templates/copier names: each project file needs its stub."""
    from plugscaffold.project import PROJECT_FILES

    stubs = {path.name for path in (REPO / "templates" / "copier").iterdir()}
    missing = [name for name in PROJECT_FILES if f"{{% if project %}}{name}{{% endif %}}.jinja" not in stubs]
    assert missing == [], f"templates/copier has no stub for {missing}"
