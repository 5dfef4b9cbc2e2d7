"""`plugscaffold update`: regenerate with changed options, keep every user edit (three-way merge)."""

from __future__ import annotations

import pytest
import yaml
from conftest import tree

ARGS = ["--width", "16", "--depth", "2", "--size", "24"]


@pytest.fixture
def project(run_cli, tmp_path):
    result = run_cli("new", "proj", *ARGS, "--up", "dysample", "--attn", "se", "--no-smoke")
    assert result.code == 0, result.err
    return tmp_path / "proj"


def edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def user_edits(project):
    """The corpus: a comment, a hyper-parameter, a method, an import, a new file."""
    model = project / "model.py"
    edit(model, "class UNet(nn.Module):", "# Baseline for experiment 3 (seed 7).\nclass UNet(nn.Module):")
    edit(
        model,
        "self.enc1_attn = SqueezeExcite(16)",
        "self.enc1_attn = SqueezeExcite(16, reduction=4)",
    )
    edit(model, "import torch\n", "import torch\nimport torch.utils.checkpoint\n")
    model.write_text(model.read_text() + "\n    def encoder_parameters(self) -> int:\n        return 42\n")
    (project / "notes.md").write_text("my notes\n")


def test_a_slot_change_keeps_every_user_edit(project, run_cli, tmp_path):
    user_edits(project)
    result = run_cli("update", "proj", "--up", "bilinear", "--size", "24")
    assert result.code == 0, result.err
    text = (project / "model.py").read_text()
    assert "<<<<<<<" not in text
    assert "# Baseline for experiment 3 (seed 7).\nclass UNet(nn.Module):" in text
    assert "self.enc1_attn = SqueezeExcite(16, reduction=4)" in text
    assert "import torch.utils.checkpoint" in text
    assert "    def encoder_parameters(self) -> int:\n        return 42\n" in text
    assert (project / "notes.md").read_text() == "my notes\n"
    # ... and the update itself happened
    assert "InterpolateUp(" in text and "DySample" not in text
    answers = yaml.safe_load((project / ".plugscaffold.yml").read_text())
    assert answers["options"]["up"] == "bilinear" and answers["options"]["attn"] == ["se@enc,bottleneck,dec"]
    namespace = {}
    exec(compile(text, "model.py", "exec"), namespace)  # still a working module
    import torch

    assert namespace["UNet"]()(torch.randn(1, 3, 24, 24)).shape == (1, 2, 24, 24)


def test_an_edit_on_a_line_the_update_changes_gives_markers_with_both_versions(project, run_cli):
    edit(
        project / "model.py",
        "self.up1 = DySample(32)",
        "self.up1 = DySample(32, groups=8)",
    )
    result = run_cli("update", "proj", "--up", "bilinear", "--no-smoke")
    assert result.code == 1
    assert "conflicts in model.py" in result.err and len(result.err.splitlines()) == 1
    text = (project / "model.py").read_text()
    assert "<<<<<<< yours" in text and "=======" in text and ">>>>>>> new" in text
    mine, theirs = text.split("<<<<<<< yours", 1)[1].split(">>>>>>> new", 1)[0].split("=======")
    assert "groups=8" in mine and "InterpolateUp(32, 16" in theirs


def test_dry_run_prints_the_diff_and_writes_nothing(project, run_cli):
    before = {p: (project / p).read_bytes() for p in tree(project) if (project / p).is_file()}
    result = run_cli("update", "proj", "--up", "bilinear", "--dry-run", "--no-smoke")
    assert result.code == 0
    assert "--- a/model.py" in result.out and "+        self.up2 = InterpolateUp(" in result.out
    assert {p: (project / p).read_bytes() for p in before} == before


def test_update_without_changes_is_a_no_op_on_an_edited_file(project, run_cli):
    user_edits(project)
    before = (project / "model.py").read_text()
    result = run_cli("update", "proj", "--no-smoke")
    assert result.code == 0, result.err
    assert (project / "model.py").read_text() == before


def test_the_answers_file_is_one_typed_record_that_loads_and_dumps_unchanged(project):
    from plugscaffold.answers import Answers

    text = (project / ".plugscaffold.yml").read_text()
    recorded = Answers.load(project)
    assert recorded.name == "proj" and recorded.options["up"] == "dysample"
    assert {"up/dysample", "attn/se"} <= set(recorded.modules)
    assert "model.py" in recorded.generated and recorded.project is None
    assert recorded.dump() == text


@pytest.mark.parametrize("damage", ["missing", "not yaml", "no options"])
def test_a_missing_or_corrupted_answers_file_is_one_line_and_changes_nothing(damage, project, run_cli):
    answers = project / ".plugscaffold.yml"
    if damage == "missing":
        answers.unlink()
    elif damage == "not yaml":
        answers.write_text("options: [unclosed\n")
    else:
        answers.write_text("name: proj\nparameters: 3\nmodules: {}\n")
    before = {p: (project / p).read_bytes() for p in tree(project)}
    result = run_cli("update", "proj", "--up", "bilinear", "--no-smoke")
    assert result.code == 1
    assert len(result.err.splitlines()) == 1 and "Traceback" not in result.err
    assert ".plugscaffold.yml" in result.err
    assert {p: (project / p).read_bytes() for p in tree(project)} == before


def test_a_changed_catalog_implementation_is_kept_unless_asked(project, run_cli, monkeypatch):
    # Simulate a project generated with an older SqueezeExcite: its recorded digest differs
    # and the file carries the old code (here: an extra comment line in the class).
    model = project / "model.py"
    edit(
        model,
        "class SqueezeExcite(nn.Module):\n",
        "class SqueezeExcite(nn.Module):\n    # old implementation\n",
    )
    answers = project / ".plugscaffold.yml"
    data = yaml.safe_load(answers.read_text())
    data["modules"]["attn/se"] = "000000000000"
    answers.write_text(yaml.safe_dump(data, sort_keys=False))

    kept = run_cli("update", "proj", "--up", "bilinear", "--no-smoke")
    assert kept.code == 0, kept.err
    assert "the catalog's attn/se changed since generation" in kept.out
    assert "# old implementation" in model.read_text()

    data = yaml.safe_load(answers.read_text())
    data["modules"]["attn/se"] = "000000000000"
    answers.write_text(yaml.safe_dump(data, sort_keys=False))
    upgraded = run_cli("update", "proj", "--no-smoke", "--upgrade-modules")
    assert upgraded.code == 0, upgraded.err
    assert "Upgraded     attn/se" in upgraded.out
    assert "# old implementation" not in model.read_text()


@pytest.mark.slow  # two training projects checked at 32x32
def test_a_training_project_is_updated_file_by_file_and_keeps_its_image_size(run_cli, tmp_path):
    result = run_cli("new", "seg", "--width", "8", "--depth", "2", "--size", "32", "--project")
    assert result.code == 0, result.err
    seg = tmp_path / "seg"
    recorded = yaml.safe_load((seg / ".plugscaffold.yml").read_text())
    assert recorded["command"].endswith("--project --size 32")
    assert recorded["project"]["check"] == {"height": 32, "width": 32, "batch": 2}
    assert recorded["project"]["measured"]["parameters"] == recorded["parameters"]
    edit(seg / "train.py", "import argparse\n", "import argparse  # reviewed by the TA\n")
    (seg / "README.md").write_text((seg / "README.md").read_text() + "\n## My results\n\nDice 0.93\n")

    result = run_cli("update", "seg", "--up", "bilinear")  # no --size: the project keeps 32x32
    assert result.code == 0, result.err
    assert "import argparse  # reviewed by the TA" in (seg / "train.py").read_text()
    readme = (seg / "README.md").read_text()
    assert readme.endswith("## My results\n\nDice 0.93\n") and "<<<<<<<" not in readme
    assert "--up bilinear" in readme  # the update reached the README too
    assert "InterpolateUp" in (seg / "architecture.svg").read_text()
    updated = yaml.safe_load((seg / ".plugscaffold.yml").read_text())
    assert updated["options"]["up"] == "bilinear"
    assert updated["project"]["check"]["height"] == 32
    assert updated["project"]["measured"]["shapes"]["up1"] == [2, 8, 32, 32]


def test_update_project_adds_the_training_files_to_a_model_only_project(project, run_cli):
    result = run_cli("update", "proj", "--project", "--no-smoke")
    assert result.code == 0, result.err
    for name in ("train.py", "data.py", "test_model.py", "README.md", "requirements.txt", "architecture.svg"):
        assert (project / name).is_file(), name
    assert "project" in yaml.safe_load((project / ".plugscaffold.yml").read_text())


def test_a_corrupted_project_record_is_one_line_and_changes_nothing(run_cli, tmp_path):
    assert (
        run_cli("new", "seg", "--width", "8", "--depth", "2", "--size", "32", "--project", "--no-smoke").code
        == 0
    )
    answers_file = tmp_path / "seg" / ".plugscaffold.yml"
    answers_file.write_text(answers_file.read_text().replace("    height: 32\n", ""))
    before = tree(tmp_path / "seg")
    snapshot = {p: (tmp_path / "seg" / p).read_bytes() for p in before if (tmp_path / "seg" / p).is_file()}
    result = run_cli("update", "seg", "--up", "bilinear")
    assert result.code == 1 and "corrupted" in result.err and len(result.err.strip().splitlines()) == 1
    assert {p: (tmp_path / "seg" / p).read_bytes() for p in snapshot} == snapshot


def test_dry_run_with_conflicts_says_would_conflict_and_exits_1(project, run_cli):
    edit(
        project / "model.py",
        "self.up1 = DySample(32)",
        "self.up1 = DySample(32, groups=8)",
    )
    before = {p: (project / p).read_bytes() for p in tree(project)}
    result = run_cli("update", "proj", "--up", "bilinear", "--dry-run", "--no-smoke")
    assert result.code == 1
    assert result.err == "plugscaffold: dry run: would conflict in model.py; nothing was written\n"
    assert "--- a/model.py" in result.out and "<<<<<<< yours" in result.out
    assert {p: (project / p).read_bytes() for p in tree(project)} == before


def test_files_the_update_creates_are_reported_as_added(project, run_cli):
    result = run_cli("update", "proj", "--project", "--no-smoke")
    assert result.code == 0, result.err
    added = next(line for line in result.out.splitlines() if line.startswith("Added        "))
    assert {"train.py", "data.py", "README.md"} <= set(added.split(None, 1)[1].split(", "))
    assert "Updated" not in result.out  # model.py is unchanged: nothing was "updated"
    changed = run_cli("update", "proj", "--up", "bilinear", "--no-smoke")
    assert "Updated      model.py" in changed.out and "Added" not in changed.out


@pytest.mark.slow
def test_update_refuses_a_merge_whose_file_fails_the_check(run_cli, tmp_path):
    # the check runs on the merged bytes that would be written, not on the regenerated model
    assert run_cli("new", "m", "--width", "8", "--depth", "2", "--no-smoke").code == 0
    model = tmp_path / "m" / "model.py"
    edit(model, "        x = self.head(x)", "        x = x[:, :5]\n        x = self.head(x)")
    before = {p: (tmp_path / "m" / p).read_bytes() for p in tree(tmp_path / "m")}
    result = run_cli("update", "m", "--act", "gelu")
    assert result.code == 1 and result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(
        "plugscaffold: error: the merged model.py (the update with your edits) fails its check: "
        "smoke check failed in head: RuntimeError: "
    )
    assert "nothing was written" in lines[0] and "--keep-failing" in lines[0]
    assert {p: (tmp_path / "m" / p).read_bytes() for p in tree(tmp_path / "m")} == before

    kept = run_cli("update", "m", "--act", "gelu", "--keep-failing")
    assert kept.code == 1
    assert "wrote the merge as asked (--keep-failing), but model.py fails its check" in kept.err
    text = model.read_text()
    assert "x = x[:, :5]" in text and "nn.GELU" in text


@pytest.fixture
def upgrade(monkeypatch, tmp_path):
    """Simulate a plugscaffold upgrade: a template line changes and the catalog's version."""
    import shutil

    from plugscaffold import catalog as catalog_module
    from plugscaffold import render
    from plugscaffold.resources import CATALOG_PATH, TEMPLATES_DIR

    def apply():
        templates = tmp_path / "upgraded_templates"
        shutil.copytree(TEMPLATES_DIR, templates)
        jinja = templates / "unet" / "model.py.jinja"
        edit(
            jinja,
            "        height, width = x.shape[-2:]\n",
            "        # upgraded\n        height, width = x.shape[-2:]\n",
        )
        catalog = tmp_path / "upgraded_catalog.yaml"
        catalog.write_text(CATALOG_PATH.read_text().replace('version: "2026.11.3"', 'version: "2027.1.1"', 1))
        monkeypatch.setattr(render, "TEMPLATES_DIR", templates)
        monkeypatch.setattr(catalog_module, "CATALOG_PATH", catalog)
        render.environment.cache_clear()

    yield apply
    render.environment.cache_clear()


def test_update_across_a_plugscaffold_upgrade_keeps_your_edit_and_takes_the_generators_change(
    project, run_cli, upgrade
):
    model = project / "model.py"
    edit(model, "self.enc1_attn = SqueezeExcite(16)", "self.enc1_attn = SqueezeExcite(16, reduction=4)")
    upgrade()
    result = run_cli("update", "proj", "--up", "bilinear", "--no-smoke")
    assert result.code == 0, result.err
    text = model.read_text()
    assert "<<<<<<<" not in text
    assert "self.enc1_attn = SqueezeExcite(16, reduction=4)" in text  # your edit
    assert "(catalog 2027.1.1)" in text and "2026.11.3" not in text  # the new generator's header
    assert "        # upgraded\n        height, width" in text  # ... and its template
    assert "InterpolateUp(" in text  # ... and the option changed
    assert (
        "Base         model.py: this version renders what plugscaffold 0.1.0, catalog 2026.11.3" in result.out
    )
    # the record now describes this update's output: the next update reproduces its base
    again = run_cli("update", "proj", "--no-smoke")
    assert again.code == 0 and "Base " not in again.out and model.read_text() == text


def test_without_the_recorded_text_an_unedited_file_is_its_own_base(project, run_cli, upgrade):
    (project / ".plugscaffold-generated").unlink()
    upgrade()
    result = run_cli("update", "proj", "--no-smoke")
    assert result.code == 0, result.err
    assert "merged against your file, which you have not edited" in result.out
    text = (project / "model.py").read_text()
    assert "(catalog 2027.1.1)" in text and "# upgraded" in text


def test_an_unreproducible_base_of_an_edited_file_is_said(project, run_cli, upgrade):
    (project / ".plugscaffold-generated").write_text("# damaged\nnot base64 at all\n")
    edit(project / "model.py", "class UNet(nn.Module):", "# mine\nclass UNet(nn.Module):")
    upgrade()
    result = run_cli("update", "proj", "--no-smoke")
    assert "neither reproduced nor recorded" in result.out
    assert "# mine\nclass UNet" in (project / "model.py").read_text()


def test_a_syntax_error_under_upgrade_modules_is_one_line(project, run_cli):
    edit(project / "model.py", "class UNet(nn.Module):", "class UNet(nn.Module)")
    answers = project / ".plugscaffold.yml"
    data = yaml.safe_load(answers.read_text())
    data["modules"] = {key: "0" * 12 for key in data["modules"]}  # every module 'changed' since
    answers.write_text(yaml.safe_dump(data))
    result = run_cli("update", "proj", "--upgrade-modules", "--no-smoke")
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1
    assert "does not parse" in result.err and "internal error" not in result.err
