"""The torchvision classifier families (mobilenet_v2, convnext, shufflenet_v2, densenet,
efficientnet): presets equal torchvision exactly (parameter count, state_dict keys and
shapes in order, a strict load of the reference's weights, eval outputs within 1e-5);
every family with every attention position generates and passes the smoke check at a
small width; random norm/act/stem/attention choices pass the check or stop in one line;
the emitted code is ruff- and black-clean at 88 columns.

Route: fixtures, as tests/test_architectures.py. torchvision 0.29.1's model files were run
once by tests/fixtures/capture_families.py (committed, rerunnable); tests/archref.py says
what is captured and makes the deterministic weights both sides load.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from archref import FIXTURES, deterministic_state, reference_input
from conftest import load_source
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_emitted import lint
from test_property import expressions

from plugscaffold import blueprints, diagram
from plugscaffold.catalog import load_catalog
from plugscaffold.errors import PlanError, SpecError
from plugscaffold.options import Output
from plugscaffold.pipeline import generate
from plugscaffold.smoke import Check, run_smoke_here

#: torchvision name -> its constructor call and our options (default options of the preset)
FAMILIES: dict[str, dict] = {
    "mobilenet_v2": {"ref": "torchvision.models.mobilenet_v2()", "options": {"arch": "mobilenet_v2"}},
    "convnext_tiny": {"ref": "torchvision.models.convnext_tiny()", "options": {"arch": "convnext"}},
    "shufflenet_v2_x1_0": {
        "ref": "torchvision.models.shufflenet_v2_x1_0()",
        "options": {"arch": "shufflenet_v2"},
    },
    "densenet121": {"ref": "torchvision.models.densenet121()", "options": {"arch": "densenet"}},
    "efficientnet_b0": {"ref": "torchvision.models.efficientnet_b0()", "options": {"arch": "efficientnet"}},
}
#: the other presets, equal as well (slow: larger networks)
MORE = {
    "shufflenet_v2_x0_5": {"arch": "shufflenet_v2", "scale": "0.5"},
    "shufflenet_v2_x1_5": {"arch": "shufflenet_v2", "scale": "1.5"},
    "shufflenet_v2_x2_0": {"arch": "shufflenet_v2", "scale": "2.0"},
    "efficientnet_b1": {"arch": "efficientnet", "variant": "b1"},
    "efficientnet_b2": {"arch": "efficientnet", "variant": "b2"},
    "efficientnet_b3": {"arch": "efficientnet", "variant": "b3"},
    "efficientnet_b4": {"arch": "efficientnet", "variant": "b4"},
    "densenet169": {"arch": "densenet", "depth": 169},
    "densenet201": {"arch": "densenet", "depth": 201},
    "convnext_small": {"arch": "convnext", "variant": "small"},
}
FAMILIES.update(
    {name: {"ref": f"torchvision.models.{name}()", "options": o, "slow": True} for name, o in MORE.items()}
)
#: the published parameter counts (torchvision's model docs)
PUBLISHED = {
    "mobilenet_v2": 3_504_872,
    "convnext_tiny": 28_589_128,
    "shufflenet_v2_x1_0": 2_278_604,
    "densenet121": 7_978_856,
    "efficientnet_b0": 5_288_548,
    "shufflenet_v2_x0_5": 1_366_792,
    "shufflenet_v2_x1_5": 3_503_624,
    "shufflenet_v2_x2_0": 7_393_996,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "convnext_small": 50_223_688,
}
#: per architecture: small options for the smoke check, and one attention per position
SMALL = {
    "mobilenet_v2": {"width": 8, "classes": 10},
    "convnext": {"width": 16, "classes": 10},
    "shufflenet_v2": {"scale": "0.5", "classes": 10},
    "densenet": {"width": 16, "growth_rate": 8, "classes": 10},
    "efficientnet": {"width": 25, "classes": 10},
}


PROPERTY_CATALOG = load_catalog()
PROPERTY_CHECK = Check(height=12, width=20, batch=2)  # small and odd-shaped, as test_property.py's


def _fixture(name: str) -> tuple[dict, torch.Tensor]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return data, torch.load(FIXTURES / f"{name}.pt")


def _model(options: dict, catalog, name: str = "fam") -> torch.nn.Module:
    gen = generate(name, options, smoke=False, output=Output.RENDER, catalog=catalog)
    return getattr(load_source(gen.source, f"fam_{abs(hash(gen.source))}"), gen.plan.class_name)()


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if FAMILIES[n].get("slow") else n for n in FAMILIES]
)
def test_preset_equals_torchvision(name, catalog):
    data, expected = _fixture(name)
    assert data["parameters"] == PUBLISHED[name]
    model = _model(FAMILIES[name]["options"], catalog, name).eval()
    assert sum(p.numel() for p in model.parameters()) == data["parameters"]
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(k, s) for k, s, _ in data["state_dict"]]  # torchvision's keys, shapes and order
    model.load_state_dict(deterministic_state(data["state_dict"]), strict=True)
    with torch.no_grad():
        out = model(reference_input(name))
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, rtol=0, atol=1e-5), float((out - expected).abs().max())


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(SMALL))
def test_small_width_passes_the_smoke_check_with_attention_at_every_position(arch, catalog):
    positions = ",".join(blueprints.get(arch).positions)
    options = {"arch": arch, **SMALL[arch], "attn": f"se:reduction=4@{positions}"}
    gen = generate("fam", options, smoke=True, output=Output.RENDER, catalog=catalog)
    assert gen.smoke.output_shape[1] == SMALL[arch]["classes"]
    assert "import plugscaffold" not in gen.source and "from plugscaffold" not in gen.source


@pytest.mark.parametrize("arch", list(SMALL))
def test_each_position_and_a_composition_builds_and_runs(arch, catalog):
    bp = blueprints.get(arch)
    plain = _model({"arch": arch, **SMALL[arch]}, catalog)
    count = sum(p.numel() for p in plain.parameters())
    x = torch.randn(2, 3, 64, 64)
    for position in bp.positions:
        model = _model({"arch": arch, **SMALL[arch], "attn": f"eca@{position}"}, catalog).eval()
        # the modules are there (efficientnet's 'se' replaces the block's own SE: a different count)
        assert sum(p.numel() for p in model.parameters()) != count, position
        assert any(type(m).__name__ == "EfficientChannelAttention" for m in model.modules()), position
        assert model(x).shape == (2, SMALL[arch]["classes"])
    model = _model(
        {"arch": arch, **SMALL[arch], "attn": "cbam:reduction=4+simam", "in_channels": 1}, catalog
    ).eval()
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, SMALL[arch]["classes"])


def test_every_preset_of_these_families_is_compared():
    presets = {name for arch in SMALL for name in blueprints.get(arch).presets}
    assert presets == set(FAMILIES)
    for name, reference in FAMILIES.items():  # a preset's options are the ones compared
        options = dict(reference["options"])
        bp = blueprints.get(options.pop("arch"))
        defaults = {o.name: o.default for o in bp.options}
        assert {**defaults, **bp.presets[name]} == {**defaults, **options}, name


def test_diagram_names_layers_inside_containers_with_mermaid_ids(catalog):
    """features.3 is a Mermaid node 'features_3' titled 'features.3' (Mermaid ids take no dots)."""
    options = {"arch": "mobilenet_v2", "width": 8}
    gen = generate("fam", options, smoke=False, output=Output.RENDER, catalog=catalog)
    text = diagram.mermaid(diagram.plan_graph(gen.plan))
    nodes = re.findall(r"^    (\S+?)[\[(]", text, re.MULTILINE)
    edges = re.findall(r"^    (\S+) -->\|[^|]*\| (\S+)$", text, re.MULTILINE)
    assert nodes and all(re.fullmatch(r"\w+", n) for n in nodes), nodes
    assert {n for edge in edges for n in edge} <= set(nodes)
    assert 'features_3["features.3<br/>InvertedResidual"]' in text


@st.composite
def family_options(draw):
    """One of these families at a small size, with random norm, act, stem and attention."""
    arch = draw(st.sampled_from(sorted(SMALL)))
    bp = blueprints.get(arch)
    opts = {"arch": arch, "classes": 3}
    sizes = {
        "mobilenet_v2": {"width": [8, 16]},
        "shufflenet_v2": {"scale": ["0.5"]},
        "efficientnet": {"width": [25, 50], "variant": ["b0", "b1"]},
        "densenet": {"width": [8, 16], "growth_rate": [4, 8], "depth": [121]},
        "convnext": {"width": [8, 16]},
    }[arch]
    opts.update({name: draw(st.sampled_from(values)) for name, values in sizes.items()})
    for slot in ("norm", "act", "stem"):
        if slot in bp.slots:
            opts[slot] = draw(st.sampled_from(PROPERTY_CATALOG.choices(slot)))
    positions = list(bp.positions)
    draw(st.randoms()).shuffle(positions)
    take = draw(st.integers(0, min(2, len(positions))))
    if take:
        opts["attn"] = [f"{draw(expressions(1))}@{','.join(positions[:take])}"]
    return opts


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opts=family_options())
def test_random_family_options_pass_the_check_or_stop_with_one_line(opts, tmp_path_factory):
    try:
        gen = generate(
            "prop", opts, smoke=False, output=Output.RENDER, check=PROPERTY_CHECK, catalog=PROPERTY_CATALOG
        )
    except (SpecError, PlanError) as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    path = tmp_path_factory.mktemp("family") / "model.py"
    path.write_text(gen.source)
    result = run_smoke_here(path, gen.plan, PROPERTY_CHECK)  # a SmokeError fails the test
    assert result.output_shape == (2, 3)


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_emitted_code_passes_ruff_and_black_at_88_columns(arch, catalog):
    positions = ",".join(blueprints.get(arch).positions)
    for attn in ("none", f"eca@{positions}"):
        options = {"arch": arch, "attn": attn}
        gen = generate("fam", options, smoke=False, output=Output.RENDER, catalog=catalog)
        assert lint(gen.source) == "", (attn, lint(gen.source))
