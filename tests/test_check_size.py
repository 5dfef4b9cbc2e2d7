"""The default check size: the smallest input that exercises every stage of the Plan."""

from __future__ import annotations

import pytest

from plugscaffold.errors import PlanError
from plugscaffold.options import PROJECT_SIZE, Check, Output
from plugscaffold.pipeline import generate
from plugscaffold.plan import fit_check, smallest_input


def test_without_size_the_check_is_the_smallest_that_reaches_every_stage_and_h_differs_from_w():
    for depth, expected in ((4, (32, 48)), (2, (8, 12)), (3, (16, 24))):
        gen = generate("m", {"depth": depth, "width": 8}, smoke=False, output=Output.RENDER)
        assert gen.plan.divisor == 2**depth
        assert (gen.check.height, gen.check.width) == expected and gen.check.auto
        # the deepest feature map is 2x3: more than one pixel, and H and W told apart
        deepest = max(layer.shape.level for layer in gen.plan.layers)
        assert (expected[0] >> deepest, expected[1] >> deepest) == (2, 3)


def test_the_default_size_rises_to_every_declared_smallest_feature_map():
    # cgafusion needs 4x4 maps; merging at the bottleneck of a depth-2 UNet (1/4 scale) needs 16
    options = {"depth": 2, "width": 8, "attn": ["se/cbam~cgafusion@bottleneck"]}
    gen = generate("m", options, smoke=False, output=Output.RENDER)
    assert smallest_input(gen.plan) == 16
    assert (gen.check.height, gen.check.width) == (16, 20)
    with pytest.raises(PlanError, match="use --size 16 or larger"):
        fit_check(gen.plan, Check(12, 12))  # a size the user gives is checked, never changed


def test_a_given_size_is_kept_and_a_training_project_defaults_to_its_training_size():
    gen = generate("m", {"depth": 2, "width": 8}, check=Check(40, 24, 3), smoke=False, output=Output.RENDER)
    assert gen.check == Check(40, 24, 3)
    gen = generate("m", {"depth": 2, "width": 8}, smoke=False, output=Output.RENDER_PROJECT)
    assert (gen.check.height, gen.check.width) == (PROJECT_SIZE, PROJECT_SIZE) and not gen.check.auto
    assert gen.contents[".plugscaffold.yml"].count("--size") == 0  # the default needs no flag to come back


def test_the_report_says_the_size_was_chosen_and_how_to_check_yours(run_cli):
    result = run_cli("new", "m", "--width", "8", "--depth", "2")
    assert result.code == 0, result.err
    assert "batch 2, 8x12 input (the smallest that exercises every stage; --size checks yours)" in result.out


@pytest.mark.slow  # a second smoke check in a subprocess
def test_the_report_of_a_given_size_says_nothing_more(run_cli):
    result = run_cli("new", "n", "--width", "8", "--depth", "2", "--size", "20")
    assert result.code == 0, result.err
    assert "batch 2, 20x20 input\n" in result.out
