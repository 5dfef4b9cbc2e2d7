"""Composition and placement (--attn EXPR@POSITIONS): grammar, semantics, channel alignment."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from conftest import load_source

from plugscaffold import blueprints, inline
from plugscaffold.errors import SpecError
from plugscaffold.options import Output
from plugscaffold.pipeline import generate
from plugscaffold.placement import Leaf, ParallelTerm, ResidualTerm, SerialTerm, parse_placement, render


def parse(text, catalog):
    unet = blueprints.get("unet")
    return parse_placement(text, catalog, unet.positions, unet.default_positions)


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("se", "se@enc,bottleneck,dec"),
        ("se:reduction=8+cbam@dec", "se:reduction=8+cbam@dec"),
        ("se/cbam", "se/cbam@enc,bottleneck,dec"),
        ("se/cbam~cat@skip", "se/cbam~cat@skip"),
        ("se/cbam~eff@down,skip", "se/cbam~eff@down,skip"),
        ("se+cbam^", "se+cbam^@enc,bottleneck,dec"),
        ("se+cbam^add@dec", "se+cbam^add@dec"),
        ("(se/cbam)+se^@bottleneck", "se/cbam+se^@bottleneck"),
        ("(se^)/cbam@enc", "(se^)/cbam@enc"),
        ("se:reduction=16@enc", "se@enc"),  # a default value is not repeated
    ],
)
def test_grammar_parses_to_a_canonical_form_that_parses_back(text, canonical, catalog):
    placement = parse(text, catalog)
    assert placement.text == canonical
    assert parse(canonical, catalog) == placement


def test_precedence_residual_wraps_the_whole_chain_and_parallel_binds_tighter(catalog):
    expr = parse("se/cbam+se^", catalog).expr
    assert isinstance(expr, ResidualTerm) and isinstance(expr.body, SerialTerm)
    assert isinstance(expr.body.steps[0], ParallelTerm) and isinstance(expr.body.steps[1], Leaf)
    assert render(expr) == "se/cbam+se^"


@pytest.mark.parametrize(
    "text,message",
    [
        ("se+cbma", "unknown attn module 'cbma' (did you mean 'cbam'?)"),
        ("se@encoder", "unknown position 'encoder' (did you mean 'enc'?)"),
        ("se@enc,enc", "a position is given twice"),
        ("se~cat", "merges parallel branches"),
        ("se/cbam~nope", "unknown skip module 'nope'"),
        ("(se+cbam", "missing ')'"),
        ("se+", "ends too early"),
        ("se+*", "unexpected '*'"),
        ("se+none", "'none' cannot be part of a composition"),
        ("se:reduction=x", "'x' is not a valid int"),
    ],
)
def test_grammar_errors_are_one_line_and_name_the_problem(text, message, catalog):
    with pytest.raises(SpecError) as info:
        parse(text, catalog)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_two_modules_at_one_position_is_an_error_that_suggests_composing(run_cli):
    result = run_cli("new", "m", "--attn", "se@enc", "--attn", "cbam@enc,dec", "--no-smoke")
    assert result.code == 1
    assert (
        "position 'enc' is given twice; compose the modules instead (e.g. --attn se+cbam@enc)" in result.err
    )


# --- semantics of the emitted composition classes -------------------------------------------------


class Times(nn.Module):
    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = k

    def forward(self, x):
        return x * self.k


class Plus(nn.Module):
    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = k

    def forward(self, x):
        return x + self.k


@pytest.fixture(scope="module")
def classes():
    sources, imports = inline.collect(["Serial", "Parallel", "Residual", "ConcatProject", "FuseProject"])
    return load_source("\n".join([*imports, *sources]))


def test_serial_really_chains_every_step_in_order(classes):
    # A popular framework's plugin loop fed every plugin the same input, so only the last one
    # counted: that would give x + 1 here, or (x + 1) * 3 in the wrong order.
    x = torch.randn(2, 4, 3, 3)
    serial = classes.Serial(twice=Times(2.0), plus=Plus(1.0), thrice=Times(3.0))
    torch.testing.assert_close(serial(x), (x * 2 + 1) * 3)
    assert [n for n, _ in serial.named_children()] == ["twice", "plus", "thrice"]


def test_parallel_really_branches_and_sums_or_merges(classes):
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(
        classes.Parallel(a=Times(2.0), b=Plus(1.0), c=Times(-1.0))(x), 2 * x + (x + 1) - x
    )
    merge = classes.ConcatProject(8, 4)
    merged = classes.Parallel(a=Times(2.0), b=Plus(1.0), merge=merge)(x)
    torch.testing.assert_close(merged, merge.proj(torch.cat([2 * x, x + 1], dim=1)))


def test_residual_really_adds_the_input_or_merges_it(classes):
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(classes.Residual(Times(3.0))(x), x + 3 * x)

    class Recorder(nn.Module):
        def forward(self, a, b):
            self.seen = (a, b)
            return a - b

    merge = Recorder()
    out = classes.Residual(Times(3.0), merge=merge)(x)
    torch.testing.assert_close(out, 3 * x - x)  # merge(body(x), x)


# --- placement in the UNet --------------------------------------------------------------------------


def test_every_position_adds_named_layers_in_forward_order(catalog):
    attn = ["se@enc,dec", "cbam@down", "se+cbam^@bottleneck", "se/cbam@skip"]
    gen = generate("m", {"width": 16, "depth": 2, "attn": attn}, smoke=False, output=Output.RENDER)
    attrs = [layer.attr for layer in gen.plan.layers]
    assert attrs == [
        "enc1", "enc1_attn", "down1", "down1_attn", "enc2", "enc2_attn", "down2", "down2_attn",
        "bottleneck", "bottleneck_attn", "up2", "skip2_attn", "fuse2", "dec2", "dec2_attn",
        "up1", "skip1_attn", "fuse1", "dec1", "dec1_attn", "head",
    ]  # fmt: skip
    assert "s2 = self.skip2_attn(e2)" in gen.source and "x = self.fuse2(x, s2)" in gen.source
    model = load_source(gen.source).UNet()
    assert model(torch.randn(1, 3, 20, 20)).shape == (1, 2, 20, 20)


def test_a_fusion_that_changes_channels_gets_a_named_projection_with_its_reason(catalog):
    gen = generate(
        "m", {"width": 32, "depth": 2, "attn": "se/cbam~eff@dec"}, smoke=False, output=Output.RENDER
    )
    assert gen.plan.projections == [
        ("dec2_attn", "1x1 projection: eff merges to 128 channels, the position keeps 64"),
        ("dec1_attn", "1x1 projection: eff merges to 64 channels, the position keeps 32"),
    ]
    assert (
        "# 1x1 projection: eff merges to 128 channels, the position keeps 64\n"
        "        self.dec2_attn = Parallel(" in gen.source
    )


def test_sort_imports_merges_from_imports_without_losing_names():
    lines = ["from typing import Optional, Tuple", "import math", "from typing import List", "import torch"]
    assert inline.sort_imports(lines + ["", "import math"]) == [
        "import math",
        "from typing import List, Optional, Tuple",
        "",
        "import torch",
    ]


def test_a_child_named_like_a_python_keyword_gets_a_valid_name(catalog):
    # 'nonlocal' is a catalog name and a Python keyword; Serial(nonlocal=...) would not parse
    gen = generate(
        "kw", {"width": 16, "depth": 1, "attn": ["bam+nonlocal@enc"]}, smoke=False, output=Output.RENDER
    )
    assert "nonlocal_=NonLocalBlock2d(" in gen.source
    load_source(gen.source)


@pytest.mark.parametrize("block", ["bottleneck", "inverted", "dense"])
def test_group_norm_inside_compound_blocks_adapts_to_internal_widths(block):
    # a ResNet bottleneck at width 32 normalises 8 channels inside: GroupNorm(32, 8) cannot exist
    gen = generate(
        "gn", {"width": 32, "depth": 1, "block": block, "norm": "gn"}, smoke=False, output=Output.RENDER
    )
    model = load_source(gen.source).UNet()
    norms = [m for m in model.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(m.num_channels % m.num_groups == 0 for m in norms)
    assert {m.num_groups for m in norms if m.num_channels % 32 == 0} == {32}  # the stage widths keep G = 32
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 2, 16, 16)
