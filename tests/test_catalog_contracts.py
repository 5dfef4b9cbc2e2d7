"""Every catalog entry, parametrized: its contract, its official fixture, its place in a UNet.

Adding a module needs no new test code: these pick the entry up from catalog.yaml.
"""

from __future__ import annotations

import pytest
import torch
from conftest import REPO, load_source

from plugscaffold import expr, inline
from plugscaffold.catalog import load_catalog
from plugscaffold.errors import PlanError
from plugscaffold.options import Output
from plugscaffold.pipeline import generate
from plugscaffold.plan import place
from plugscaffold.smoke import Check, run_smoke_here

CATALOG = load_catalog()
ENTRIES = sorted(CATALOG.entries)
FIXTURES = REPO / "tests" / "fixtures" / "official"
WIDTHS = (16, 32, 64, 128, 256)


def construct(entry, code):
    """Evaluate a constructor call with the entry's inlined classes, as model.py would."""
    sources, imports = inline.collect(entry.classes)
    namespace = load_source("\n".join([*imports, "import torch", "import torch.nn as nn", *sources]))
    return eval(code, namespace.__dict__)


def build(entry, config):
    """Check the catalog constraints, then instantiate ``entry`` with the emitted call."""
    params = {k: config.get(k, p.default) for k, p in entry.params.items()}
    channels = {k: config.get(k) for k in ("in_channels", "out_channels", "skip_channels")}
    placed = place(entry, params, where="test", **channels)
    return construct(entry, placed.code), placed.out_channels


def config_for(entry, width):
    out = width // 2 if entry.slot == "up" else width
    return {"in_channels": width, "out_channels": out, "skip_channels": width}


def valid_widths(entry, count=2):
    """The first ``count`` widths at which the entry's constraints hold."""
    found = []
    for width in WIDTHS:
        try:
            build(entry, config_for(entry, width))
        except (PlanError, ValueError):
            continue
        found.append(width)
        if len(found) == count:
            break
    return found


def sizes_for(entry):
    """Two input sizes; an odd one wherever the contract keeps the size (scale 1)."""
    return [(8, 8), (9, 7)] if entry.contract.scale == 1 else [(8, 8), (12, 6)]


@pytest.mark.parametrize("key", ENTRIES)
def test_shape_contract_backward_finite_and_determinism(key):
    entry = CATALOG.entries[key]
    widths = valid_widths(entry)
    assert len(widths) == 2, f"{key}: fewer than two widths in {WIDTHS} satisfy its constraints"
    for width in widths:
        for h, w in sizes_for(entry):
            torch.manual_seed(0)
            module, channels = build(entry, config_for(entry, width))
            inputs = [torch.randn(2, width, h, w, requires_grad=True) for _ in range(entry.contract.inputs)]
            torch.manual_seed(1)  # the same random state for both forwards (dropout, e.g. ASPP's)
            out = module(*[x * 1.0 for x in inputs])  # in-place activations need a non-leaf
            scale = entry.contract.scale
            assert out.shape == (2, channels, int(h * scale), int(w * scale)), (key, width, h, w)
            assert torch.isfinite(out).all()
            out.square().mean().backward()
            assert all(torch.isfinite(x.grad).all() for x in inputs)
            torch.manual_seed(0)
            again, _ = build(entry, config_for(entry, width))
            torch.manual_seed(1)
            torch.testing.assert_close(
                again(*[x.detach().clone() for x in inputs]), out.detach(), rtol=0, atol=0
            )


@pytest.mark.parametrize("key", [k for k in ENTRIES if CATALOG.entries[k].contract.constraints])
def test_a_width_the_catalog_refuses_is_refused_by_the_constructor_with_a_sentence(key):
    """At the defaults and at each other choice of a parameter (one at a time: a constraint may
    bite only there, e.g. nearest's kernel_size 0 keeps the channels)."""
    entry = CATALOG.entries[key]
    defaults = {k: p.default for k, p in entry.params.items()}
    tried = [defaults] + [
        {**defaults, k: c} for k, p in entry.params.items() for c in p.choices or () if c != p.default
    ]
    refused = 0
    for params in tried:
        for width in (1, 2, 3, 6, 10, 24, 48, 100):
            try:
                place(entry, params, where="test", **config_for(entry, width))
            except PlanError:
                refused += 1
                fields = {k: repr(v) for k, v in params.items()} | config_for(entry, width)
                with pytest.raises(ValueError) as info:
                    construct(entry, entry.build.format(**fields))
                message = str(info.value)
                assert str(width) in message and " " in message, (params, message)
    assert refused, f"{key}: no tried width or choice violates its constraints; extend those tried"


@pytest.mark.parametrize("key", [k for k in ENTRIES if CATALOG.entries[k].contract.min_size])
def test_the_declared_smallest_feature_map_is_exact(key):
    """The module runs at its declared min_size and fails one row and column below it, so the
    generation-time size check (plan.check_size) stops exactly the models that would crash."""
    entry = CATALOG.entries[key]
    width = valid_widths(entry, count=1)[0]
    module, _ = build(entry, config_for(entry, width))
    params = {k: p.default for k, p in entry.params.items()}
    n = int(expr.evaluate(entry.contract.min_size.size, {**params, **config_for(entry, width)}))
    module(*[torch.randn(2, width, n, n) for _ in range(entry.contract.inputs)])
    with pytest.raises((RuntimeError, ValueError)):  # torch's own error, or the module's sentence
        module(*[torch.randn(2, width, n - 1, n - 1) for _ in range(entry.contract.inputs)])


@pytest.mark.parametrize("key", [k for k in ENTRIES if CATALOG.entries[k].slot == "block"])
def test_a_block_declares_the_channels_of_every_conv_slot_call_inside_it(key):
    """The Plan checks the --conv module at the (in, out) pairs the block declares (contract
    convs); here the block is built with a recording conv3x3 to prove the declaration exact."""
    entry = CATALOG.entries[key]
    sources, imports = inline.collect(entry.classes)
    namespace = load_source("\n".join([*imports, "import torch", "import torch.nn as nn", *sources]))
    calls = []
    if hasattr(namespace, "conv3x3"):
        default = namespace.conv3x3
        namespace.conv3x3 = lambda a, b: calls.append((a, b)) or default(a, b)
    params = {k: p.default for k, p in entry.params.items()}
    pairs = entry.contract.convs
    for width in valid_widths(entry):
        for cin, cout in ((width, width), (width, 2 * width)):
            calls.clear()
            channels = {"in_channels": cin, "out_channels": cout}
            placed = place(entry, params, where="test", **channels)
            eval(placed.code, namespace.__dict__)
            env = {**params, **channels}
            declared = {(expr.evaluate(a, env), expr.evaluate(b, env)) for a, b in pairs}
            assert set(calls) == declared, (key, cin, cout)


WITH_FIXTURE = [(k, f) for k in ENTRIES for f in CATALOG.entries[k].fixtures]


def fixture_inputs(fixture):
    """``inputs`` (a list) in the standard format; ``input`` (a tensor or {x, skip}) in early ones."""
    if "inputs" in fixture:
        return list(fixture["inputs"])
    single = fixture["input"]
    return [single["x"], single["skip"]] if isinstance(single, dict) else [single]


@pytest.mark.parametrize("key,file", WITH_FIXTURE, ids=[f for _, f in WITH_FIXTURE])
def test_matches_the_official_implementation_on_its_captured_fixture(key, file):
    entry = CATALOG.entries[key]
    fixture = torch.load(FIXTURES / file, weights_only=True)
    config = dict(fixture["config"])
    config.setdefault("in_channels", config.get("channels"))
    config.update(entry.fixture_params.get(file, {}))  # the form the official code was captured in
    module, _ = build(entry, config)
    key_map = fixture.get("key_map") or {}
    state = {key_map.get(k, k): v for k, v in fixture["state_dict"].items()}
    module.load_state_dict(state, strict=True)  # the official weights load as they are
    module.eval()
    with torch.no_grad():
        out = module(*fixture_inputs(fixture))
    assert (out - fixture["output"]).abs().max().item() <= 1e-5


# 70-odd UNets; the quick run checks entries inside UNets in test_generate and test_property
@pytest.mark.slow
@pytest.mark.parametrize("key", ENTRIES)
def test_generates_inside_a_unet_and_passes_the_smoke_check(key, tmp_path):
    entry = CATALOG.entries[key]
    width = valid_widths(entry, count=1)[0]
    options = {entry.slot: entry.name, "width": width, "depth": 2}
    gen = generate("slot", options, smoke=False, output=Output.RENDER)
    path = tmp_path / "model.py"
    path.write_text(gen.source)
    result = run_smoke_here(path, gen.plan, Check(height=20, width=28, batch=2))
    assert result.output_shape == (2, 2, 20, 28)
