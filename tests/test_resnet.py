"""--arch resnet: every block, attention position, down, conv, norm, act and stem of the
catalog in a ResNet-18-width classifier passes the smoke check; options and errors."""

from __future__ import annotations

import pytest
import torch
from conftest import load_source

from plugscaffold.catalog import load_catalog
from plugscaffold.errors import PlanError, SpecError
from plugscaffold.options import Output
from plugscaffold.pipeline import generate
from plugscaffold.plan import check_size
from plugscaffold.smoke import Check, run_smoke_here

CATALOG = load_catalog()
BASE = {"arch": "resnet", "depth": 18, "classes": 10}
#: one placement per module at every basic-block position; conv2 exists in bottlenecks
CASES = (
    [{"block": e.name} for e in CATALOG.in_slot("block")]
    + [{"attn": f"{e.name}@conv1,branch,block"} for e in CATALOG.in_slot("attn")]
    + [{"block": "bottleneck", "attn": f"{e.name}@conv2"} for e in CATALOG.in_slot("attn")]
    + [{slot: e.name} for slot in ("down", "conv", "norm", "act", "stem") for e in CATALOG.in_slot(slot)]
    + [{"stem_type": "deep"}, {"groups": 32, "width_per_group": 4, "block": "bottleneck", "down": "blurpool"}]
)


def _id(case: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in case.items())


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_every_choice_passes_the_smoke_check(case, tmp_path):
    gen = generate("m", {**BASE, **case}, smoke=False, output=Output.RENDER, catalog=CATALOG)
    path = tmp_path / "model.py"
    path.write_text(gen.source)
    check = Check(64, 96, 2)  # layer4 sees 2x3: every module's smallest map (nonlocal pools 2x2)
    check_size(gen.plan, check)
    result = run_smoke_here(path, gen.plan, check)
    assert result.output_shape == (2, 10)
    assert result.shapes["layer4"][1] == gen.plan.layers[-4].shape.channels


def test_attention_is_named_after_its_module_at_the_se_position():
    gen = generate("m", {**BASE, "attn": "se"}, smoke=False, output=Output.RENDER, catalog=CATALOG)
    model = load_source(gen.source).ResNet()
    keys = model.state_dict()
    assert "layer1.0.se.fc.0.weight" in keys and "layer4.1.se.fc.2.bias" in keys
    assert "self.se = se" in gen.source and "out = self.se(out)" in gen.source


def test_in_channels_and_classes_are_constructor_arguments():
    gen = generate("m", {**BASE, "width": 8}, smoke=False, output=Output.RENDER, catalog=CATALOG)
    module = load_source(gen.source)
    model = module.ResNet(in_channels=1, classes=3)
    import torch

    assert model(torch.zeros(1, 1, 33, 31)).shape == (1, 3)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"depth": 20}, r"--depth must be one of 18, 34, 50, 101, 152, got '20'"),
        ({"groups": 32}, r"basic blocks take --groups 1 and --width-per-group 64"),
        ({"attn": "se@conv2"}, r"--attn at conv2 needs bottleneck blocks"),
        ({"block": "convnext", "attn": "se@branch"}, r"needs a residual block"),
        ({"up": "bilinear"}, r"--up is not an option of --arch resnet"),
        ({"stem_type": "dep"}, r"did you mean 'deep'"),
        ({"depth": 50, "groups": 32, "conv": "dsconv"}, r"--conv dsconv has no groups"),
    ],
)
def test_bad_options_are_one_line(options, message):
    with pytest.raises((SpecError, PlanError), match=message):
        generate("m", {**BASE, **options}, smoke=False, output=Output.RENDER, catalog=CATALOG)


def test_command_and_report_name_the_preset(run_cli, tmp_path):
    result = run_cli(
        "new",
        "rx",
        "--arch",
        "resnet",
        "--groups",
        "32",
        "--width-per-group",
        "4",
        "--width",
        "16",
        "--size",
        "32",
    )
    assert result.code == 0, result.err
    assert "rx: ResNeXt-50 32x4d; width 16" in result.out
    assert "(2, 1000)" in result.out
    source = (tmp_path / "rx" / "model.py").read_text()
    assert "plugscaffold new rx --arch resnet --width 16 --groups 32 --width-per-group 4" in source


@pytest.mark.parametrize(
    "preset",
    [
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "resnext50_32x4d",
        "resnext101_32x8d",
        "resnext101_64x4d",
        "wide_resnet50_2",
        "wide_resnet101_2",
    ],
)
def test_unet_on_every_encoder_preset_passes_the_smoke_check(preset, tmp_path):
    gen = generate(
        "m", {"encoder": preset, "classes": 3, "width": 4}, smoke=False, output=Output.RENDER, catalog=CATALOG
    )
    path = tmp_path / "model.py"
    path.write_text(gen.source)
    result = run_smoke_here(path, gen.plan, Check(32, 64, 1))
    assert result.output_shape == (1, 3, 32, 64)
    with torch.device("meta"):  # the names only: no memory, no initialisation
        assert "encoder.layer4" in "".join(load_source(gen.source).UNet().state_dict())


def test_encoder_refuses_the_unets_own_encoder_options():
    for options, message in (
        ({"attn": "se@enc"}, "needs the UNet's own encoder"),
        ({"down": "hwd"}, "--down is the encoder's"),
        ({"depth": 6}, "resnet34 has 5"),
    ):
        with pytest.raises(PlanError, match=message):
            generate(
                "m", {"encoder": "resnet34", **options}, smoke=False, output=Output.RENDER, catalog=CATALOG
            )


@pytest.mark.slow
def test_training_project_loads_a_torchvision_checkpoint_into_the_encoder(tmp_path, monkeypatch):
    """train.py --pretrained PATH: a classifier checkpoint (fc included) goes into model.encoder;
    a file that does not fit is one line."""
    import importlib
    import sys

    import torch

    options = {"encoder": "resnet18", "width": 4}
    generate("seg", options, parent=tmp_path, output=Output.WRITE_PROJECT, catalog=CATALOG)
    project = tmp_path / "seg"
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    for name in ("config", "model", "train", "data"):
        sys.modules.pop(name, None)
    train = importlib.import_module("train")
    model = train.build_model()
    checkpoint = {
        k: torch.full_like(v, 0.5) if v.is_floating_point() else v
        for k, v in model.encoder.state_dict().items()
    }
    checkpoint.update({"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)})
    torch.save(checkpoint, project / "resnet18.pth")
    train.load_pretrained(model, project / "resnet18.pth")
    assert torch.all(model.encoder.conv1.weight == 0.5)
    torch.save({"conv1.weight": torch.zeros(1)}, project / "bad.pth")
    with pytest.raises(train.TrainError, match=r"--pretrained .*bad.pth does not fit model.encoder"):
        train.load_pretrained(model, project / "bad.pth")
    assert "load_pretrained(model, args.pretrained)" in (project / "train.py").read_text()


@pytest.mark.slow
def test_homework_on_a_resnet_grades_its_solutions_full_marks(run_cli, tmp_path):
    spec = tmp_path / "hw.yaml"
    spec.write_text(
        "title: attention in a ResNet\nseed: 7\nname: homework\n"
        "model: {arch: resnet, depth: 18, width: 16, classes: 10}\n"
        "pool: {attn: [se, eca], down: [conv, blurpool]}\nimplement: [attn]\nstudents: [alice, bob]\n"
        "points: {contract: 15, outputs: 50, gradients: 20, constraints: 5, integration: 10}\n"
        "check: {smoke: false}\n"
    )
    made = run_cli("homework", str(spec), "--out", str(tmp_path / "out"))
    assert made.code == 0, made.err
    graded = run_cli(
        "grade", str(tmp_path / "out"), str(tmp_path / "out" / "solutions"), "--csv", str(tmp_path / "g.csv")
    )
    assert graded.code == 0, graded.err
    assert graded.out.count("100/100") == 2, graded.out
