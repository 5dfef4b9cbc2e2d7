"""Generated classifiers equal their reference networks exactly: parameter count, state_dict
keys and shapes, a strict load of the reference's weights, and eval outputs within 1e-5.

Route: fixtures. The references (torchvision 0.29.1, timm 1.0.31, segmentation_models_pytorch
0.6.0, the official CBAM and ECA code) were run once by tests/fixtures/capture_architectures.py,
which is committed and rerunnable; see tests/archref.py for what is captured.
"""

from __future__ import annotations

import json

import pytest
import torch
from archref import FIXTURES, REFERENCES, deterministic_state, mapped, reference_input
from conftest import load_source

from plugscaffold.options import Output
from plugscaffold.pipeline import generate

SLOW = {"resnet101", "resnet152", "wide_resnet50_2"}


def _fixture(name: str) -> tuple[dict, torch.Tensor]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return data, torch.load(FIXTURES / f"{name}.pt")


def _ours(name: str, catalog) -> torch.nn.Module:
    gen = generate(name, REFERENCES[name]["options"], smoke=False, output=Output.RENDER, catalog=catalog)
    module = load_source(gen.source, f"arch_{name}")
    return getattr(module, gen.plan.class_name)()


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in REFERENCES]
)
def test_equals_reference(name, catalog):
    data, expected = _fixture(name)
    model = _ours(name, catalog).eval()
    reference = deterministic_state(data["state_dict"])
    weights = mapped(reference, REFERENCES[name].get("key_map"))
    ours = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == data["parameters"]
    if REFERENCES[name]["ref"].startswith("torchvision"):
        # torchvision's keys in torchvision's order (the others register attention elsewhere)
        assert [(k, list(v.shape)) for k, v in ours.items()] == [(k, s) for k, s, _ in data["state_dict"]]
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in weights.items()}
    model.load_state_dict(weights, strict=True)
    with torch.no_grad():
        out = model(reference_input(name))
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, rtol=0, atol=1e-5), float((out - expected).abs().max())


def test_reference_counts_are_the_published_ones():
    counts = {name: json.loads((FIXTURES / f"{name}.json").read_text())["parameters"] for name in REFERENCES}
    assert counts["resnet18"] == 11_689_512
    assert counts["resnet34"] == 21_797_672
    assert counts["resnet50"] == 25_557_032
    assert counts["resnet101"] == 44_549_160
    assert counts["seresnet50"] == 28_088_024


def test_torchvision_weights_load_into_the_unet_encoder(catalog):
    """torchvision's resnet34 state_dict (less fc) is model.encoder's, key for key."""
    data, _ = _fixture("resnet34")
    model = _ours("smp_unet_resnet34", catalog)
    weights = {k: v for k, v in deterministic_state(data["state_dict"]).items() if not k.startswith("fc.")}
    model.encoder.load_state_dict(weights, strict=True)
    assert torch.equal(
        model.state_dict()["encoder.layer4.2.bn2.running_var"], weights["layer4.2.bn2.running_var"]
    )


def test_unet_encoder_parameters_match_smp(catalog):
    data, _ = _fixture("smp_unet_resnet34")
    assert data["parameters"] == 24_436_514
