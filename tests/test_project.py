"""`--project`: the training project beside model.py runs, resumes, scales and tests itself."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from conftest import ruff_in_project
from forkrun import run_script

from plugscaffold.catalog import load_catalog
from plugscaffold.options import Output
from plugscaffold.pipeline import generate
from plugscaffold.project import project_files
from plugscaffold.smoke import Check

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "project"
SHARED = ("train.py", "export.py", "images.py", "test_train.py")  # every task's project files
TASK_FILES = ("data.py", "metrics.py", "predict.py", "test_model.py")  # templates/project/TASK/

pytestmark = pytest.mark.slow

# Small and fast: 3 steps of a global batch of 4 at 32x32, 8 validation images.
TRAIN = ["--epochs", "1", "--steps-per-epoch", "3", "--size", "32", "--batch-size", "4", "--val-samples", "8"]
FILES = {
    "config.py",
    "train.py",
    "predict.py",
    "export.py",
    "data.py",
    "images.py",
    "metrics.py",
    "test_model.py",
    "test_train.py",
    "README.md",
    "requirements.txt",
    "architecture.svg",
}
# One thread per process: on a 2-core machine two torchrun workers with 2 threads each
# oversubscribe the cores (torchrun itself sets OMP_NUM_THREADS=1 for its workers).
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def write_project(directory: Path, options: dict, smoke: bool = True) -> Path:
    gen = generate("p", options, output=Output.RENDER, smoke=smoke, check=Check(32, 32, 1))
    files = project_files(gen.plan, load_catalog(), gen.smoke, gen.check)
    assert set(files) == FILES
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.py").write_text(gen.source, encoding="utf-8")
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_project(tmp_path_factory.mktemp("project") / "p", {"width": 8, "depth": 2})


def run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        args, cwd=cwd, env=ENV, check=False, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def script(args: list[str], cwd: Path, check: bool = True, timeout: float = 120):
    """``python *args`` in ``cwd``, in a process forked from this one (tests/forkrun.py: the
    same script and exit status, without a new interpreter's start)."""
    proc = run_script(args, cwd, env=ENV, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def load_module(path: Path, name: str):
    """``path`` imported as ``name``; its own imports of its project's files (data.py's
    ``from images import ...``) resolve in its folder."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    for sibling in ("images", "metrics"):
        sys.modules.pop(sibling, None)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


# --- the files --------------------------------------------------------------------------


def test_python_files_are_black_clean_and_pyflakes_clean(project):
    names = ["config.py", "train.py", "predict.py", "export.py", "data.py", "test_model.py"]
    black = subprocess.run(
        [sys.executable, "-m", "black", "--check", *names],
        cwd=project,
        check=False,
        capture_output=True,
        text=True,
    )
    assert black.returncode == 0, black.stderr
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F", "--no-cache", *names],
        cwd=project,
        check=False,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout


def test_requirements_name_what_the_project_imports(project):
    lines = [line.split("#")[0].strip() for line in (project / "requirements.txt").read_text().splitlines()]
    # numpy: torch warns on every run without it; pillow: real images; matplotlib: curves.png
    assert [line for line in lines if line] == ["torch>=2.1,<3", "numpy", "pillow", "matplotlib", "pytest"]


def test_the_scripts_are_real_python_files_checked_like_the_package(project):
    # The Python files are copied as they are (every task's from templates/project/, the
    # task's own from templates/project/segmentation/): black at 88 leaves them unchanged,
    # ruff's E, W, F and I rules pass at ruff's default settings (line length 88, not this
    # repo's 110), and only config.py differs per model.
    static = [
        *(TEMPLATES / name for name in SHARED),
        *(TEMPLATES / "segmentation" / name for name in TASK_FILES),
    ]
    for path in static:
        assert (project / path.name).read_bytes() == path.read_bytes(), path.name
        assert not path.with_name(path.name + ".jinja").exists()
    black = subprocess.run([sys.executable, "-m", "black", "--check", "-q", "-l", "88", *map(str, static)],
                           check=False, capture_output=True, text=True)  # fmt: skip
    assert black.returncode == 0, black.stderr
    assert ruff_in_project(project, [path.name for path in static]) == ""
    config = (project / "config.py").read_text(encoding="utf-8")
    assert "from model import UNet as Model" in config and "SIZE = (32, 32)" in config


def test_a_segmentation_project_carries_no_classification_code(project):
    # Only what the task uses (issue 14): no class-folder loader, no accuracy, no task branches.
    for name in [*SHARED, *TASK_FILES, "README.md"]:
        text = (project / name).read_text(encoding="utf-8")
        for word in ["classif", "ClassFolder", "accuracy", 'TASK == "', "CLASS_NAME"]:
            assert word not in text, (name, word)


def test_project_generation_does_not_import_torch(tmp_path):
    code = (
        "import sys; from plugscaffold.pipeline import generate; from plugscaffold.options import Output; "
        "from plugscaffold.project import project_files; from plugscaffold.catalog import load_catalog; "
        "gen = generate('p', {'width': 8, 'depth': 2}, output=Output.RENDER, smoke=False); "
        "files = project_files(gen.plan, load_catalog(), None, gen.check); "
        "assert 'torch' not in sys.modules, 'torch was imported'; print(len(files))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, check=False, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(len(FILES))


def test_readme_has_commands_citations_costs_and_a_mermaid_diagram_of_every_layer(tmp_path):
    gen = generate(
        "p",
        {"depth": 2, "width": 32, "down": "hwd", "up": "dysample", "skip": "eff"},
        output=Output.RENDER,
        smoke=False,
    )
    readme = project_files(gen.plan, load_catalog(), None, gen.check)["README.md"]
    for text in ["python train.py", "python -m pytest -q",
                 "torchrun --standalone --nproc_per_node 2 train.py",
                 "--resume", "![architecture](architecture.svg)", "Pattern Recognition 2023",
                 "https://github.com/tiny-smart/dysample", "Not measured"]:  # fmt: skip
        assert text in readme, text
    mermaid = re.search(r"```mermaid\n(.*?)```", readme, re.DOTALL)
    assert mermaid and mermaid.group(1).startswith("flowchart TD")
    diagram = mermaid.group(1)
    for layer in gen.plan.layers:
        assert re.search(rf"^    {layer.attr}\[", diagram, re.MULTILINE), layer.attr
    edges = re.findall(r'^    (\w+) (-->|-\.->)\|"(L\d+ · \d+ ch · [\d/]+)"\| (\w+)$', diagram, re.MULTILINE)
    assert len(edges) == sum(len(layer.inputs) for layer in gen.plan.layers) + 1  # + head -> logits
    assert ("enc1", "-.->", "L0 · 32 ch · 1", "fuse1") in edges  # a skip edge, dashed
    assert ("down2", "-->", "L2 · 64 ch · 1/4", "bottleneck") in edges


def test_the_readme_command_regenerates_the_same_project(tmp_path):
    from plugscaffold.cli import main

    first, again = tmp_path / "first", tmp_path / "again"
    first.mkdir(), again.mkdir()
    assert main(["new", "p", "--width", "8", "--depth", "2", "--size", "32x48", "--batch", "3", "--project",
                 "--dir", str(first)]) == 0  # fmt: skip
    readme = (first / "p" / "README.md").read_text(encoding="utf-8")
    command = re.search(r"^(plugscaffold new .*)$", readme, re.MULTILINE).group(1)
    assert command.endswith("--project --size 32x48 --batch 3")
    assert main([*command.split()[1:], "--dir", str(again)]) == 0
    made = sorted(p.name for p in (first / "p").iterdir())
    assert made == sorted(p.name for p in (again / "p").iterdir())
    for name in made:
        assert (first / "p" / name).read_bytes() == (again / "p" / name).read_bytes(), name


def test_readme_reports_parameters_and_flops_from_the_smoke_check(project):
    readme = (project / "README.md").read_text()
    header = re.search(r"Parameters: ([\d,]+)", (project / "model.py").read_text()).group(1)
    assert f"| parameters | {header} (" in readme
    assert "FLOPs at batch 1, 32x32" in readme


def test_svg_parses_and_draws_every_layer_and_skip(project):
    root = ET.parse(project / "architecture.svg").getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = {t.text for t in root.findall("svg:g[@id='layers']/svg:g/svg:text", ns)}
    for attr in ["input", "enc1", "down1", "enc2", "down2", "bottleneck", "up2", "fuse2", "dec2",
                 "up1", "fuse1", "dec1", "head", "logits"]:  # fmt: skip
        assert attr in titles, attr
    lines = root.findall("svg:g[@id='edges']/svg:line", ns)
    assert len(lines) == 15  # 13 main-path edges + 2 skips
    assert len([line for line in lines if line.get("stroke-dasharray")]) == 2


def test_the_generated_unet_takes_in_channels_and_classes_with_the_generated_defaults(tmp_path):
    # A stem keeps the input's channels, so it takes the argument too (a spatial transformer here).
    gen = generate(
        "p",
        {"width": 8, "depth": 2, "in_channels": 1, "classes": 4, "stem": "stn"},
        output=Output.RENDER,
        smoke=False,
    )
    assert "def __init__(self, in_channels: int = 1, classes: int = 4) -> None:" in gen.source
    path = tmp_path / "model.py"
    path.write_text(gen.source, encoding="utf-8")
    UNet = load_module(path, "unet_with_arguments").UNet
    torch.manual_seed(0)
    with torch.no_grad():
        assert UNet().eval()(torch.randn(1, 1, 32, 32)).shape == (1, 4, 32, 32)
        model = UNet(in_channels=5, classes=3).eval()
        assert model(torch.randn(2, 5, 32, 40)).shape == (2, 3, 32, 40)
    assert model.stem.__class__.__name__ == "SpatialTransformer"
    assert model.enc1(torch.randn(1, 5, 8, 8)).shape[1] == 8  # enc1 reads the 5 channels
    assert model.head.out_channels == 3


# --- training ---------------------------------------------------------------------------


def test_train_writes_checkpoints_and_csv_and_resume_continues(project):
    out = project / "runs_resume"
    first = script(["train.py", *TRAIN, "--out", str(out)], project)
    assert "epochs 1..1" in first.stdout
    assert {"last.pt", "best.pt", "metrics.csv", "steps.csv"} <= {p.name for p in out.iterdir()}
    assert [r["epoch"] for r in rows(out / "metrics.csv")] == ["1"]
    assert set(rows(out / "metrics.csv")[0]) == {
        "epoch",
        "train_loss",
        "val_loss",
        "val_dice",
        "val_iou",
        "lr",
        "seconds",
    }

    # The checkpoint's "model" is a plain state_dict of the class in model.py.
    model = load_module(project / "model.py", "project_model_for_resume").UNet()
    state = torch.load(out / "last.pt", weights_only=True)
    model.load_state_dict(state["model"])
    assert state["epoch"] == 1 and state["step"] == 3

    second = script(["train.py", *TRAIN, "--epochs", "2", "--resume", "--out", str(out)], project)
    assert "epochs 2..2" in second.stdout
    assert [r["epoch"] for r in rows(out / "metrics.csv")] == ["1", "2"]
    assert [r["step"] for r in rows(out / "steps.csv")] == ["1", "2", "3", "4", "5", "6"]
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and state["step"] == 6
    assert state["optimizer"]["state"][0]["step"] == 6  # the optimizer state was restored, not restarted


def test_resume_without_a_checkpoint_is_one_clear_line(project):
    proc = script(["train.py", *TRAIN, "--resume", "--out", "nowhere"], project, check=False)
    assert proc.returncode == 1
    assert "train.py: error: --resume: there is no checkpoint nowhere/last.pt" in proc.stderr
    assert "Traceback" not in proc.stderr


def torchrun(project: Path, out: str, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return run([*command, "train.py", *TRAIN, "--seed", "1", "--out", out, *extra], project, timeout=180)


@pytest.fixture(scope="module")
def single_and_ddp(project):
    single = script(["train.py", *TRAIN, "--seed", "1", "--out", "single"], project)
    ddp = torchrun(project, "ddp")
    return project / "single", project / "ddp", single, ddp


def test_torchrun_two_cpu_processes_log_once_and_write_one_set_of_checkpoints(single_and_ddp):
    _, ddp, _, proc = single_and_ddp
    assert "training segmentation on cpu (2 processes)" in proc.stdout
    assert proc.stdout.count("epoch 1/1") == 1  # only rank 0 prints
    assert sorted(p.name for p in ddp.iterdir()) == [
        "best.pt",
        "curves.png",
        "last.pt",
        "metrics.csv",
        "steps.csv",
    ]
    assert len(rows(ddp / "metrics.csv")) == 1 and len(rows(ddp / "steps.csv")) == 3
    state = torch.load(ddp / "last.pt", weights_only=True)
    assert not any(key.startswith("module.") for key in state["model"])  # unwrapped from DDP


def test_ddp_loss_equals_the_single_process_loss_on_the_same_global_batch(single_and_ddp):
    # Same seed and global batch 4: one process takes all 4 samples, each of 2 processes
    # takes 2 of the same 4. BatchNorm is synchronised, so every step's global-batch loss
    # (and hence the averaged gradient and the next step) agrees to float precision.
    single, ddp, _, _ = single_and_ddp
    one = [float(r["loss"]) for r in rows(single / "steps.csv")]
    two = [float(r["loss"]) for r in rows(ddp / "steps.csv")]
    assert len(one) == len(two) == 3
    assert two == pytest.approx(one, abs=1e-5)
    assert float(rows(ddp / "metrics.csv")[0]["val_dice"]) == pytest.approx(
        float(rows(single / "metrics.csv")[0]["val_dice"]), abs=1e-4
    )


def test_without_sync_batchnorm_the_ddp_loss_differs_so_the_comparison_is_sensitive(single_and_ddp):
    single, _, _, _ = single_and_ddp
    project = single.parent
    torchrun(project, "ddp_local_bn", "--no-sync-bn")
    one = float(rows(single / "steps.csv")[0]["loss"])
    local = float(rows(project / "ddp_local_bn" / "steps.csv")[0]["loss"])
    assert abs(local - one) > 1e-4  # per-process BatchNorm statistics over 2 samples, not 4


# --- the project's own tests and data ----------------------------------------------------


def test_the_projects_own_pytest_passes_without_plugscaffold(project):
    # plugscaffold is importable in this environment; make any import of it fail.
    code = (
        "import sys; sys.modules['plugscaffold'] = None; import pytest; "
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'test_model.py', 'test_train.py']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=ENV,
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b6 passed\b", proc.stdout), proc.stdout  # none skipped: the header has a count


def test_synthetic_labels_are_shape_kinds_and_folder_errors_are_clear(project, tmp_path):
    data = load_module(project / "data.py", "project_data_for_test")
    seg = data.SyntheticShapes(16, (32, 32), 3, 4, seed=0)
    labels = torch.cat([seg[i][1].flatten() for i in range(16)]).unique().tolist()
    assert labels == [0, 1, 2, 3]  # background + circle, rectangle, triangle
    assert torch.equal(seg[5][0], seg[5][0])
    binary = data.SyntheticShapes(12, (32, 32), 1, 2, seed=0)
    assert torch.cat([binary[i][1].flatten() for i in range(12)]).unique().tolist() == [0, 1]
    assert binary[0][0].shape == (1, 32, 32)

    options = {
        "size": (32, 32),
        "in_channels": 3,
        "classes": 2,
        "train_samples": 4,
        "val_samples": 4,
        "seed": 0,
    }
    with pytest.raises(data.DataError, match="masks does not exist"):
        (tmp_path / "images").mkdir()
        (tmp_path / "images" / "a.png").write_bytes(b"")
        data.make_datasets(tmp_path, **options)
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "b.png").write_bytes(b"")
    with pytest.raises(data.DataError) as error:
        data.make_datasets(tmp_path, **options)
    # Both sides in one line: the image without a mask and the orphan mask.
    assert re.fullmatch(
        r"1 image\(s\) in \S*images have no mask with the same name in \S*masks: a\.png; "
        r"1 mask\(s\) in \S*masks have no image with the same name in \S*images: b\.png",
        str(error.value),
    ), str(error.value)
    with pytest.raises(data.DataError, match="no such folder"):
        data.make_datasets(tmp_path / "missing", **options)


# --- papercuts: resume of a finished run, --help, progress, curves, masks, predict.py, SVG ---


@pytest.fixture(scope="module")
def finished(project):
    """One finished 1-epoch run in project/runs_done (matplotlib is installed here)."""
    script(["train.py", *TRAIN, "--out", "runs_done"], project)
    return project / "runs_done"


def test_resume_of_a_finished_run_says_it_is_complete_and_how_to_extend_it(project, finished):
    before = (finished / "last.pt").read_bytes()
    proc = script(["train.py", *TRAIN, "--resume", "--out", "runs_done"], project)
    assert proc.stdout.startswith("runs_done/last.pt is complete: it has trained 1 of --epochs 1")
    assert "To train on, raise --epochs, e.g. python train.py --resume --epochs 2" in proc.stdout
    assert "epochs 2..1" not in proc.stdout and "training" not in proc.stdout
    assert (finished / "last.pt").read_bytes() == before  # nothing trained, nothing rewritten


def test_help_shows_the_defaults(project):
    train = script(["train.py", "--help"], project).stdout
    for text in ["--epochs N", "(default: 20)", "(default: 16)", "(default: 32x32)", "(default: runs)",
                 "(default: 0.001)"]:  # fmt: skip
        assert text in train, text
    predict = script(["predict.py", "--help"], project).stdout
    assert "(default: runs/best.pt)" in predict and "(default: predictions)" in predict


def test_progress_bar_shows_the_epochs_eta(project):
    code = (
        "from train import Progress, clock\n"
        "bar = Progress(10, 'epoch 1/3', enabled=False)\n"
        "bar.count = 4\n"
        "print(bar.line(0.5, elapsed=2.0))\n"  # 2 steps/s, 6 steps left: 3 s
        "print(clock(3725))\n"
    )
    lines = script(["-c", code], project).stdout.splitlines()
    assert lines == ["epoch 1/3 [########------------] 4/10 loss 0.5000 2.0 it/s ETA 0:03", "1:02:05"]


def test_training_plots_curves_png_and_skips_it_in_one_line_without_matplotlib(project, finished, tmp_path):
    pytest.importorskip("matplotlib")
    assert (finished / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code = (
        "import sys; from pathlib import Path; sys.modules['matplotlib'] = None\n"
        "from train import plot_curves\n"
        f"plot_curves(Path('runs_done/metrics.csv'), Path({str(tmp_path / 'curves.png')!r}))\n"
    )
    proc = script(["-c", code], project)
    assert proc.stdout == "curves.png skipped: pip install matplotlib to plot metrics.csv\n"
    assert not (tmp_path / "curves.png").exists()


def save_png(path: Path, mode: str, size: tuple[int, int], pixels: dict | None = None, fill=0) -> None:
    from PIL import Image

    picture = Image.new(mode, size, fill)
    for xy, value in (pixels or {}).items():
        picture.putpixel(xy, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)


def test_masks_with_values_outside_the_classes_are_refused_naming_the_file(project, tmp_path):
    pytest.importorskip("PIL")
    data = load_module(project / "data.py", "project_data_for_masks")
    for name, value in [("good", 255), ("bad", 3)]:
        save_png(tmp_path / "d" / "images" / f"{name}.png", "RGB", (32, 32), fill=(90, 20, 30))
        save_png(tmp_path / "d" / "masks" / f"{name}.png", "L", (32, 32), {(5, 5): value})
    folder = data.SegmentationFolder(tmp_path / "d", (32, 32), 3, 2)
    stems = [image.stem for image, _ in folder.pairs]
    assert folder[stems.index("good")][1].unique().tolist() == [0, 1]  # 0/255 is read as 0/1
    with pytest.raises(data.DataError) as error:
        folder[stems.index("bad")]
    assert str(error.value).startswith(
        f"mask {tmp_path / 'd' / 'masks' / 'bad.png'} has pixel values 0, 3, but"
    )
    with pytest.raises(
        data.DataError, match=r"bad\.png has pixel values 0, 3, 4, but with 4 classes .* 0\.\.3;"
    ):
        data.check_mask_values(tmp_path / "bad.png", {0, 3, 4}, 4)
    data.check_mask_values(tmp_path / "ok.png", {0, 3}, 4)  # class indices below 4 are fine
    # train.py: one line naming the file, exit 1, no traceback; also when a DataLoader worker
    # process read the file (it re-raises the error with its traceback appended).
    message = (
        f"train.py: error: mask {tmp_path / 'd' / 'masks' / 'bad.png'} has pixel values 0, 3, but with 2 "
        "classes a mask holds 0 (background) and 1 or 255 (foreground); fix the mask, or generate the "
        "model with --classes"
    )
    args = [*TRAIN, "--data", str(tmp_path / "d"), "--batch-size", "1", "--out", str(tmp_path / "runs")]
    for workers in ("0", "1"):
        proc = script(["train.py", *args, "--workers", workers], project, check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stderr.splitlines() == [message], workers


def test_predict_writes_the_checkpoints_masks_at_each_images_size(project, finished, tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    images = tmp_path / "images"
    save_png(
        images / "square.png",
        "RGB",
        (32, 32),
        {(x, x): (250, 250, 250) for x in range(32)},
        fill=(10, 40, 90),
    )
    save_png(images / "wide.jpg", "RGB", (40, 24), fill=(200, 100, 0))
    out = tmp_path / "masks"
    proc = script(["predict.py", str(images), "--checkpoint", "runs_done/best.pt",
                "--out", str(out)], project)  # fmt: skip
    assert proc.stdout == f"wrote 2 masks to {out}\n"
    assert sorted(p.name for p in out.iterdir()) == ["square.png", "wide.png"]
    with Image.open(out / "wide.png") as wide:
        assert wide.mode == "L" and wide.size == (40, 24)
    # The mask is the checkpoint's own prediction: compare with the model run here.
    data = load_module(project / "data.py", "project_data_for_predict")
    model = load_module(project / "model.py", "project_model_for_predict").UNet()
    model.load_state_dict(torch.load(finished / "best.pt", weights_only=True)["model"])
    with torch.no_grad():
        expected = model.eval()(data.load_image(images / "square.png", (32, 32), 3)[None]).argmax(1)[0]
    with Image.open(out / "square.png") as square:
        written = torch.tensor(list(square.tobytes())).view(32, 32)
    assert set(written.unique().tolist()) <= {0, 255}
    assert torch.equal(written // 255, expected)
    missing = script(["predict.py", str(images), "--checkpoint", "none.pt"], project, check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("predict.py: error: --checkpoint none.pt: no such file; train first")


def test_a_file_that_is_not_a_checkpoint_is_one_line(project, tmp_path):
    pytest.importorskip("PIL")
    (tmp_path / "last.pt").write_text("not a checkpoint")
    save_png(tmp_path / "images" / "a.png", "RGB", (32, 32))
    checkpoint = str(tmp_path / "last.pt")
    for name, args in [("predict.py", [str(tmp_path / "images"), "--checkpoint", checkpoint]),
                       ("train.py", [*TRAIN, "--resume", "--out", str(tmp_path)])]:  # fmt: skip
        proc = script([name, *args], project, check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stderr == (
            f"{name}: error: {tmp_path / 'last.pt'} is not a checkpoint written by train.py "
            "(UnpicklingError)\n"
        )


def svg_of(options: dict, name: str = "p") -> ET.Element:
    gen = generate(name, options, output=Output.RENDER, smoke=False)
    return ET.fromstring(project_files(gen.plan, load_catalog(), None, gen.check)["architecture.svg"])


SVG = {"svg": "http://www.w3.org/2000/svg"}


def test_svg_explains_composite_attention_in_its_legend():
    root = svg_of(
        {"width": 32, "depth": 2, "attn": ["se+cbam^@enc", "(eca/simam~cat)^@dec", "se@bottleneck"]}
    )
    legend = [t.text for t in root.findall("svg:g[@id='legend']/svg:text", SVG)]
    assert "se+cbam^ = x + cbam(se(x))" in legend
    assert "eca/simam~cat^ = x + conv1x1(cat[eca(x), simam(x)])" in legend
    assert not any(text.startswith("se =") for text in legend)  # a single module needs no formula


def test_svg_title_wraps_and_boxes_fit_their_text():
    attn = [
        "se:reduction=4+cbam:reduction=4,spatial_kernel=3^@enc",
        "eca+simam^@dec",
        "(se/eca~cat)^@bottleneck",
    ]
    name = "cell_segmentation_with_wavelet_downsampling_and_dynamic_upsampling"
    root = svg_of(
        {"width": 32, "depth": 2, "down": "hwd", "up": "dysample", "skip": "eff", "attn": attn}, name
    )
    width = float(root.get("width"))
    lines = [t for t in root.findall("svg:text", SVG)]
    title = " ".join(t.text for t in lines)
    assert title == root.find("svg:title", SVG).text  # every word of the title is drawn
    assert len(lines) > 1
    for line in lines:  # each line fits: x + a generous 0.64 em per bold 15 px character
        assert float(line.get("x")) + len(line.text) * 15 * 0.64 <= width, line.text
    for box in root.findall("svg:g[@id='layers']/svg:g", SVG):
        rect, *texts = list(box)
        for text, size in zip(texts, (12, 10)):
            assert len(text.text) * size * 0.58 <= float(rect.get("width")), text.text


def test_svg_edge_labels_sit_beside_their_lines():
    root = svg_of({"width": 32, "depth": 3, "skip": "eff", "up": "dysample"})
    lines = root.findall("svg:g[@id='edges']/svg:line", SVG)
    labels = root.findall("svg:g[@id='edge-labels']/svg:text", SVG)
    assert len(lines) == len(labels) and any(line.get("stroke-dasharray") for line in lines)
    for line, label in zip(lines, labels):
        x1, y1, x2, y2 = (float(line.get(k)) for k in ("x1", "y1", "x2", "y2"))
        w, h = len(label.text) * 10 * 0.58, 10
        left = float(label.get("x")) - (w / 2 if label.get("text-anchor") == "middle" else 0)
        top = float(label.get("y")) - h
        for t in [i / 200 for i in range(201)]:  # no point of the line inside the label's box
            x, y = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
            assert not (left < x < left + w and top < y < top + h + 2), (label.text, x, y)
