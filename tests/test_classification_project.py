"""`--project` for a classifier (the blueprint's task): the project carries only classification
code, shares train.py and friends with segmentation projects, loads --pretrained checkpoints
into the whole classifier, and learns its synthetic data."""

from __future__ import annotations

import csv
import importlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ruff_in_project
from forkrun import run_script

from plugscaffold import blueprints
from plugscaffold.catalog import load_catalog
from plugscaffold.options import Output
from plugscaffold.pipeline import generate
from plugscaffold.project import project_files

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "project"
CLASSIFIERS = [name for name in blueprints.names() if blueprints.get(name).task == "classification"]
OWN = ("data.py", "metrics.py", "predict.py", "test_model.py")
SHARED = ("train.py", "export.py", "images.py", "test_train.py")
# Words of segmentation code: masks, Dice/IoU, the shapes dataset and its folder loader.
SEGMENTATION_WORDS = ("mask", "Mask", "dice", "Dice", "IoU", '"iou"', "segment", "Segment", "SyntheticShapes")


def files_of(arch: str, **options) -> dict[str, str]:
    gen = generate("c", {"arch": arch, **options}, output=Output.RENDER, smoke=False)
    return project_files(gen.plan, load_catalog(), None, gen.check)


@pytest.mark.parametrize("arch", CLASSIFIERS)
def test_every_classifier_gets_a_classification_project_without_segmentation_code(arch):
    files = files_of(arch)
    assert 'TASK = "classification"' in files["config.py"]
    for name in (*OWN, "README.md"):
        for word in SEGMENTATION_WORDS:
            assert word not in files[name], (arch, name, word)
    for name in OWN:  # the task's own files, copied as they are
        assert files[name] == (TEMPLATES / "classification" / name).read_text(encoding="utf-8")
    for name in SHARED:  # one file for both tasks, not a copy per task
        assert files[name] == (TEMPLATES / name).read_text(encoding="utf-8")
    assert "```mermaid" in files["README.md"] and files["architecture.svg"].startswith("<svg")


def test_classification_files_pass_black_and_ruff(tmp_path):
    # black at 88, and ruff at its default settings run in a classification project (where
    # the project's own modules sort as first-party), on the files copied from the templates
    static = [TEMPLATES / "classification" / name for name in OWN]
    black = subprocess.run([sys.executable, "-m", "black", "--check", "-q", "-l", "88", *map(str, static)],
                           check=False, capture_output=True, text=True)  # fmt: skip
    assert black.returncode == 0, black.stderr
    for name, text in files_of("resnet", depth=18, width=4).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for path in static:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
    assert ruff_in_project(tmp_path, list(OWN)) == ""


@pytest.fixture
def project_module(tmp_path, monkeypatch):
    """The project's train.py imported in-process (its folder first on sys.path)."""
    options = {"arch": "resnet", "depth": 18, "width": 4, "classes": 5}
    generate("c", options, parent=tmp_path, output=Output.WRITE_PROJECT)
    project = tmp_path / "c"
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    for name in ("config", "model", "train", "data", "images", "metrics"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return project, importlib.import_module("train")


def test_pretrained_fills_the_whole_classifier_and_leaves_a_head_of_other_classes(project_module):
    import torch

    project, train = project_module
    model = train.build_model()
    checkpoint = {
        k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in model.state_dict().items()
    }
    checkpoint.update({"fc.weight": torch.zeros(1000, 32), "fc.bias": torch.zeros(1000)})  # ImageNet's head
    torch.save(checkpoint, project / "resnet.pth")
    head = model.fc.weight.detach().clone()
    assert train.load_pretrained(model, project / "resnet.pth") == "fc."
    assert torch.all(model.conv1.weight == 0.5) and torch.all(model.layer4[0].conv1.weight == 0.5)
    assert torch.equal(model.fc.weight, head)  # 1000 classes there, 5 here: left at its initial weights
    same = {
        k: torch.full_like(v, 0.25) if v.is_floating_point() else v for k, v in model.state_dict().items()
    }
    torch.save(same, project / "same.pth")
    assert train.load_pretrained(model, project / "same.pth") is None
    assert torch.all(model.fc.weight == 0.25)  # the same classes: the head is loaded too
    del checkpoint["conv1.weight"]
    torch.save(checkpoint, project / "partial.pth")
    with pytest.raises(
        train.TrainError, match=r"partial.pth does not fit the model: 1 missing key.*conv1.weight"
    ):
        train.load_pretrained(model, project / "partial.pth")
    checkpoint["conv1.weight"] = torch.zeros(3)
    torch.save(checkpoint, project / "bad.pth")
    with pytest.raises(
        train.TrainError, match=r"bad.pth does not fit the model: conv1.weight is \(3,\) there"
    ):
        train.load_pretrained(model, project / "bad.pth")


@pytest.mark.usefixtures("project_module")
def test_class_folders_are_read_and_a_wrong_count_is_one_line(tmp_path):
    import torch

    data = importlib.import_module("data")  # project_module put the project first on sys.path
    image = importlib.import_module("images").pillow()
    root = tmp_path / "folders"
    for k, name in enumerate(["a", "b", "c", "d", "e"]):
        (root / name).mkdir(parents=True)
        for i in range(2):
            image.new("RGB", (9, 7), (40 * k, 0, 0)).save(root / name / f"{i}.png")
    train_set, val_set = data.make_datasets(root, size=(8, 8), in_channels=3, classes=5, train_samples=0,
                                            val_samples=0, seed=0)  # fmt: skip
    assert len(train_set) + len(val_set) == 10 and len(val_set) == 1
    labels = sorted(int(train_set[i][1]) for i in range(len(train_set)))
    assert torch.is_tensor(train_set[0][1]) and train_set[0][1].dtype == torch.int64
    assert train_set[0][0].shape == (3, 8, 8) and set(labels) <= set(range(5)) and len(set(labels)) >= 4
    (root / "f").mkdir()
    with pytest.raises(
        data.DataError, match=r"has 6 class folder\(s\) \(a, b, c, d, e, f\), but the model has 5"
    ):
        data.make_datasets(
            root, size=(8, 8), in_channels=3, classes=5, train_samples=0, val_samples=0, seed=0
        )
    (root / "f").rmdir()
    for path in (root / "e").iterdir():
        path.unlink()
    with pytest.raises(data.DataError, match=r"class folder .*e has no images"):
        data.make_datasets(
            root, size=(8, 8), in_channels=3, classes=5, train_samples=0, val_samples=0, seed=0
        )


@pytest.mark.slow
def test_a_small_resnet_project_learns_its_synthetic_classes_and_predicts(tmp_path):
    """The README's 'Training projects' time: resnet18 layout at width 8, 5 classes, 32x32."""
    options = {"arch": "resnet", "depth": 18, "width": 8, "classes": 5}
    generate("c", options, parent=tmp_path, output=Output.WRITE_PROJECT)
    project = tmp_path / "c"
    args = ["--size", "32", "--epochs", "12", "--steps-per-epoch", "30", "--batch-size", "32",
            "--val-samples", "100", "--lr", "3e-3", "--target", "0.9", "--out", "runs"]  # fmt: skip
    start = time.perf_counter()
    proc = run_script(["train.py", *args], project, timeout=600)  # tests/forkrun.py
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    with open(project / "runs" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[-1]["val_accuracy"]) >= 0.9, rows[-1]
    assert (project / "runs" / "best.pt").is_file()
    print(f"reached val accuracy {rows[-1]['val_accuracy']} after {len(rows)} epochs in {seconds:.1f} s")
    images = tmp_path / "images"
    images.mkdir()
    sys.path.insert(0, str(project))
    try:
        for name in ("config", "model", "train", "data", "images", "metrics"):
            sys.modules.pop(name, None)
        data = importlib.import_module("data")
        pillow = importlib.import_module("images").pillow()
    finally:
        sys.path.remove(str(project))
    truth = {}
    for i in range(10):
        picture, label = data.SyntheticClasses(10, (32, 32), 3, 5, seed=7)[i]
        values = (picture.permute(1, 2, 0) * 255).round().byte().flatten().tolist()
        pillow.frombytes("RGB", (32, 32), bytes(values)).save(images / f"{i}.png")
        truth[f"{i}.png"] = int(label)
    out = tmp_path / "predictions.csv"
    proc = run_script(["predict.py", str(images), "--out", str(out)], project)
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as handle:
        predicted = {row["file"]: int(row["class"]) for row in csv.DictReader(handle)}
    assert predicted.keys() == truth.keys()
    assert sum(predicted[k] == truth[k] for k in truth) >= 7  # 0.9 on the validation set; 10 samples vary
