"""The core promise: `plugscaffold new` emits a standalone UNet that is checked."""

from __future__ import annotations

import itertools
import re

import black
import pytest
import torch
from conftest import load_source

from plugscaffold import inline
from plugscaffold.errors import TargetError
from plugscaffold.options import PROJECT_SIZE, Output
from plugscaffold.pipeline import generate
from plugscaffold.smoke import Check, run_smoke_here


def model_of(name="m", **options):
    gen = generate(name, options, smoke=False, output=Output.RENDER)
    return gen, load_source(gen.source).UNet()


def test_default_unet_matches_the_classic_parameter_count():
    # milesial/Pytorch-UNet (seed 002), n_channels=3, n_classes=2, bilinear=False
    _, model = model_of()
    assert sum(p.numel() for p in model.parameters()) == 31_037_698
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 2, 64, 64)


@pytest.mark.parametrize("size", [(37, 45), (1, 1), (16, 48), (100, 7)])
def test_any_input_size_is_padded_inside_and_cropped_back(size):
    _, model = model_of(width=8, classes=3)
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, *size))
    assert out.shape == (1, 3, *size)


def test_odd_sizes_are_zero_padded_at_the_bottom_right_and_cropped_back():
    gen, model = model_of(width=8, depth=2)
    assert "pad_to_multiple(x, 4)" in gen.source
    model.eval()
    x = torch.randn(1, 3, 11, 10)
    padded_by_hand = torch.nn.functional.pad(x, (0, 2, 0, 1))  # 12x12, zeros bottom/right
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(padded_by_hand)[..., :11, :10])


def test_generated_parts_are_named_by_role_and_stage_in_forward_order():
    gen, model = model_of(depth=2, width=32, down="hwd", up="dysample", skip="eff")
    names = [name for name, _ in model.named_children()]
    assert names == [
        "enc1", "down1", "enc2", "down2", "bottleneck",
        "up2", "align2", "fuse2", "dec2", "up1", "align1", "fuse1", "dec1", "head",
    ]  # fmt: skip
    assert "self.enc1 = DoubleConv(in_channels, 32)" in gen.source  # the model's argument
    assert "self.enc2 = DoubleConv(32, 64)" in gen.source  # literal channels inside
    assert "x = self.fuse1(x, e1)  # (B, 64, H, W)" in gen.source  # shape comments


SLOTS = {
    "down": ["maxpool", "conv", "hwd"],
    "up": ["convtranspose", "bilinear", "dysample"],
    "skip": ["cat", "add", "eff"],
    "attn": ["none", "se", "cbam"],
    "conv": ["conv", "dsconv"],
}
COMBOS = list(itertools.product(*SLOTS.values()))


def pairwise(combos):
    """A subset of ``combos`` in which every two choices of any two slots meet (greedy)."""

    def pairs(combo):
        return {(i, combo[i], j, combo[j]) for i, j in itertools.combinations(range(len(combo)), 2)}

    needed, chosen = set().union(*map(pairs, combos)), []
    while needed:
        best = max(combos, key=lambda combo: len(pairs(combo) & needed))
        chosen.append(best)
        needed -= pairs(best)
    return chosen


PAIRWISE = pairwise(COMBOS)  # the quick run (-m "not slow") checks these; the full suite all 162


@pytest.mark.parametrize(
    "combo",
    [pytest.param(c, id="-".join(c), marks=() if c in PAIRWISE else pytest.mark.slow) for c in COMBOS],
)
def test_every_combination_generates_and_passes_the_smoke_check(combo, tmp_path):
    options = dict(zip(SLOTS, combo), width=32, depth=3)
    gen = generate("combo", options, smoke=False, output=Output.RENDER)
    path = tmp_path / "model.py"
    path.write_text(gen.source)
    check = Check(height=24, width=40, batch=2)
    result = run_smoke_here(path, gen.plan, check)  # raises SmokeError on any failure
    assert result.output_shape == (2, 2, 24, 40)
    assert result.parameters > 0 and result.forward_flops > 0


def test_plug_in_sources_read_well_at_blacks_88_columns():
    """Module files are formatted at the repository's 110 columns, emitted code at black's 88:
    no statement may be long enough that black pushes its trailing comment onto a lone ')'."""
    awkward = []
    for name, definition in inline.index().items():
        for line in black.format_str(definition.source, mode=black.Mode()).splitlines():
            if re.match(r"\s*\)+:?\s+#", line):
                awkward.append(f"{definition.file} {name}: {line.strip()}")
    assert awkward == [], "move these comments above their statements:\n" + "\n".join(awkward)


def test_the_output_value_says_what_is_made_and_what_is_written(tmp_path):
    """generate(output=...) replaces the write/project/force flags (as black's WriteBack)."""
    options = {"width": 8, "depth": 2}
    model = generate("m", options, output=Output.RENDER, parent=tmp_path, smoke=False)
    project = generate("m", options, output=Output.RENDER_PROJECT, parent=tmp_path, smoke=False)
    assert list(tmp_path.iterdir()) == [] and model.files == project.files == []  # nothing written
    assert "model.py" in model.contents and "train.py" not in model.contents
    assert {"model.py", "train.py", "data.py"} <= set(project.contents)
    assert model.check.auto and project.check.height == PROJECT_SIZE  # a project checks at its size

    written = generate("m", options, output=Output.WRITE, parent=tmp_path, smoke=False)
    assert sorted(p.relative_to(tmp_path / "m").as_posix() for p in written.files) == sorted(written.contents)
    assert not (tmp_path / "m" / "train.py").exists()
    with pytest.raises(TargetError, match="already exists"):  # a new folder unless replace
        generate("m", options, output=Output.WRITE_PROJECT, parent=tmp_path, smoke=False)
    generate("m", options, output=Output.WRITE_PROJECT, parent=tmp_path, replace=True, smoke=False)
    assert (tmp_path / "m" / "train.py").read_text() == project.contents["train.py"]

    with pytest.raises(ValueError, match="replace=True needs an output that writes"):
        generate("m", options, output=Output.RENDER, replace=True, smoke=False)
    for flag in ("write", "project", "force"):  # the old flags are gone
        with pytest.raises(TypeError, match=flag):
            generate("m", options, **{flag: False})
