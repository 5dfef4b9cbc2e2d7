"""The smoke check's measurements: FLOPs as torch counts them, the baseline's figures cached."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from conftest import load_source
from torch.utils.flop_counter import FlopCounterMode

from plugscaffold import cache
from plugscaffold.catalog import load_catalog
from plugscaffold.options import Output
from plugscaffold.pipeline import _baseline, generate
from plugscaffold.smoke import WORKER, Check, baseline_key, run_smoke_here

SMALL = {"width": 8, "depth": 2}


def test_the_worker_counts_exactly_the_flops_of_flopcountermode(tmp_path):
    """Convolutions, transposed convolutions, matmuls of attention, grouped 1x1s: the worker's
    light dispatch mode (no torch._dynamo import) gives FlopCounterMode's total."""
    for options in (
        {**SMALL, "up": "dysample", "bottleneck": "transformer", "attn": ["cbam:reduction=4@dec"]},
        {"width": 32, "depth": 2, "skip": "eff", "conv": "dsconv", "attn": ["nonlocal@bottleneck"]},
    ):
        gen = generate("m", options, smoke=False, output=Output.RENDER)
        path = tmp_path / "model.py"
        path.write_text(gen.source)
        check = Check(16, 24, 2)
        result = run_smoke_here(path, gen.plan, check)
        torch.manual_seed(0)
        model = load_source(gen.source).UNet()
        with FlopCounterMode(display=False) as reference:
            model(torch.randn(2, 3, 16, 24))
        assert result.forward_flops == reference.get_total_flops() > 0


@pytest.mark.slow  # three smoke checks in subprocesses
def test_the_baseline_figures_are_a_real_measurement_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGSCAFFOLD_CACHE_DIR", str(tmp_path / "cache"))
    options = {**SMALL, "conv": "dsconv"}
    gen = generate("m", options, output=Output.RENDER)
    # the default model of the same size, checked for real (forward and backward, on the CPU)
    source = _baseline(gen.plan.spec, load_catalog())
    path = tmp_path / "baseline.py"
    path.write_text(source)
    default = generate("baseline", SMALL, smoke=False, output=Output.RENDER)
    real = run_smoke_here(path, default.plan, gen.check)
    assert gen.smoke.baseline == {"parameters": real.parameters, "forward_flops": real.forward_flops}
    assert real.parameters > gen.smoke.parameters  # depthwise-separable convolutions are smaller

    # the next run reads the figures from the cache, keyed by the baseline's source and shape
    entries = list((tmp_path / "cache" / "baseline").iterdir())
    assert [e.name for e in entries] == [baseline_key(source, default.plan, gen.check)]
    planted = {"parameters": 12345, "forward_flops": 678}
    entries[0].write_text(json.dumps(planted))
    assert generate("other_name", options, output=Output.RENDER).smoke.baseline == planted
    # another size is another entry, measured afresh
    again = generate("m", options, check=Check(8, 8), output=Output.RENDER)
    assert again.smoke.baseline not in (planted, None)
    assert len(list((tmp_path / "cache" / "baseline").iterdir())) == 2


def test_an_unusable_cache_is_skipped_silently(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("PLUGSCAFFOLD_CACHE_DIR", str(tmp_path / "file"))
    cache.write("baseline", "x", "{}")  # nothing raised: the figures are measured again next time
    assert cache.read("baseline", "x") is None
    monkeypatch.setenv("PLUGSCAFFOLD_CACHE_DIR", str(tmp_path / "ok"))
    cache.write("baseline", "x", "{}")
    assert cache.read("baseline", "x") == "{}" and [
        p.name for p in (tmp_path / "ok" / "baseline").iterdir()
    ] == ["x"]


def test_the_gradient_check_finds_exactly_the_nonfinite_tensors():
    """Summing first is only a shortcut: an overflowing sum of finite values is not reported."""
    worker = importlib.util.module_from_spec(importlib.util.spec_from_file_location("w", WORKER))
    worker.__spec__.loader.exec_module(worker)
    finite, big = torch.ones(10), torch.full((10,), 3e38)  # big sums to inf, yet every value is finite
    nan, infs = torch.ones(10), torch.ones(3)
    nan[3] = float("nan")
    infs[0], infs[1] = float("inf"), float("-inf")  # their sum is NaN
    named = [("finite", finite), ("nan", nan), ("big", big), ("infs", infs)]
    assert worker.nonfinite(named) == ["nan", "infs"] and worker.nonfinite([]) == []
