"""UNets on every classifier preset (``--arch unet --encoder PRESET``, issue 10 item 4): each
generates, passes the smoke check, and its ``model.encoder`` has the classifier's own feature
keys and shapes (the references' manifests in tests/fixtures/architectures), so a torchvision
checkpoint less its head loads into it with ``strict=True``.

ResNet presets are also covered in tests/test_resnet.py.
"""

from __future__ import annotations

import json

import pytest
import torch
from archref import FIXTURES, deterministic_state
from conftest import load_source
from test_emitted import lint

from plugscaffold.blueprints import encoders
from plugscaffold.catalog import load_catalog
from plugscaffold.errors import PlanError
from plugscaffold.options import Output
from plugscaffold.pipeline import generate
from plugscaffold.smoke import Check, run_smoke_here

CATALOG = load_catalog()

#: the classifier keys an encoder leaves out, per family: its head (and, as smp's EfficientNet
#: encoders, EfficientNet's last 1x1 conv, features.8)
HEAD = {
    "resnet": ("fc.",),
    "mobilenet_v2": ("classifier.",),
    "shufflenet_v2": ("fc.",),
    "efficientnet": ("features.8.", "classifier."),
    "densenet": ("classifier.",),
    "convnext": ("classifier.",),
}
#: the smallest preset of each family
FAST = ("resnet18", "mobilenet_v2", "shufflenet_v2_x0_5", "efficientnet_b0", "densenet121", "convnext_tiny")
#: (stride, channels) of the features the decoder reads (smp's taps, where smp has the encoder)
TAPS = {
    "mobilenet_v2": [(2, 16), (4, 24), (8, 32), (16, 96), (32, 1280)],
    "efficientnet_b0": [(2, 32), (4, 24), (8, 40), (16, 112), (32, 320)],
    "densenet121": [(2, 64), (4, 256), (8, 512), (16, 1024), (32, 1024)],
    "shufflenet_v2_x1_0": [(2, 24), (4, 24), (8, 116), (16, 232), (32, 1024)],
    "convnext_tiny": [(4, 96), (8, 192), (16, 384), (32, 768)],
}


def _family(preset: str) -> str:
    return encoders()[preset][0].name


def _unet(preset: str, **options):
    return generate(
        f"u_{preset}",
        {"encoder": preset, "classes": 3, "width": 4, **options},
        smoke=False,
        output=Output.RENDER,
        catalog=CATALOG,
    )


def _smoke(preset: str, tmp_path, **options) -> None:
    gen = _unet(preset, **options)
    path = tmp_path / "model.py"
    path.write_text(gen.source)
    result = run_smoke_here(
        path, gen.plan, Check(32, 64, 1)
    )  # BatchNorm at 1/32 needs two values per channel
    assert result.output_shape == (1, 3, 32, 64)


def test_every_family_is_an_encoder():
    assert {_family(p) for p in encoders()} == set(HEAD)
    assert set(FAST) <= set(encoders())


#: every preset but the ResNets' (tests/test_resnet.py checks those); about 10 s in all
@pytest.mark.parametrize("preset", ["resnet18", *(p for p in encoders() if _family(p) != "resnet")])
def test_unet_on_every_preset_passes_the_smoke_check(preset, tmp_path):
    _smoke(preset, tmp_path)


@pytest.mark.parametrize("preset", FAST)
def test_a_shallower_depth_keeps_only_layers_that_run(preset, tmp_path):
    """--depth 3: the encoder ends at its 1/8 feature; the smoke check fails on any parameter
    without a gradient (DenseNet's transition 2 keeps only its norm and relu, same keys)."""
    _smoke(preset, tmp_path, depth=3)


@pytest.mark.parametrize("preset", sorted(TAPS))
def test_the_decoder_reads_smps_features(preset):
    gen = _unet(preset)
    (encoder,) = [layer for layer in gen.plan.layers if layer.attr == "encoder"]
    assert [(2**shape.level, shape.channels) for _, shape in encoder.taps] == TAPS[preset]


def _manifest(preset: str) -> list:
    return json.loads((FIXTURES / f"{preset}.json").read_text())["state_dict"]


@pytest.mark.parametrize("preset", [p for p in encoders() if (FIXTURES / f"{p}.json").exists()])
def test_encoder_keys_and_shapes_are_the_classifiers_features(preset):
    """Built on the meta device (no memory, no init): only names and shapes are compared."""
    head = HEAD[_family(preset)]
    expected = [(k, tuple(shape)) for k, shape, _ in _manifest(preset) if not k.startswith(head)]
    module = load_source(_unet(preset).source, f"enc_{preset}")
    with torch.device("meta"):
        model = module.UNet()
    assert [(k, tuple(v.shape)) for k, v in model.encoder.state_dict().items()] == expected
    assert {f"encoder.{k}" for k, _ in expected} <= set(model.state_dict())  # under encoder.


@pytest.mark.parametrize("preset", ["mobilenet_v2", "shufflenet_v2_x0_5", "efficientnet_b0", "densenet121"])
def test_reference_weights_load_strictly_into_the_encoder(preset):
    """The reference classifier's state_dict, its head dropped, is model.encoder's."""
    head = HEAD[_family(preset)]
    weights = {k: v for k, v in deterministic_state(_manifest(preset)).items() if not k.startswith(head)}
    model = load_source(_unet(preset).source, f"load_{preset}").UNet()
    model.encoder.load_state_dict(weights, strict=True)
    last = list(weights)[-1]
    assert torch.equal(model.state_dict()[f"encoder.{last}"], weights[last])


def test_depth_counts_strides_and_a_stem_without_a_half_size_feature_refuses_depth_1():
    gen = _unet("convnext_tiny", depth=3)
    (encoder,) = [layer for layer in gen.plan.layers if layer.attr == "encoder"]
    assert [2**shape.level for _, shape in encoder.taps] == [4, 8]
    assert "features.4" not in gen.source.split("class ConvNeXtEncoder", 1)[1].split("class UNet", 1)[0]
    with pytest.raises(PlanError, match=r"convnext_tiny has 4, at 1/4, 1/8, 1/16, 1/32: use --depth 2 to 5"):
        _unet("convnext_tiny", depth=1)


def test_the_encoders_own_activation_unless_one_is_chosen():
    assert "nn.ReLU6(" in _unet("mobilenet_v2").source
    assert "nn.SiLU(" in _unet("efficientnet_b0").source
    chosen = _unet("mobilenet_v2", act="silu").source
    assert "nn.SiLU(" in chosen and "nn.ReLU6(" not in chosen


@pytest.mark.parametrize("preset", FAST)
def test_emitted_encoder_unet_passes_ruff_and_black(preset):
    source = _unet(preset).source
    assert lint(source) == "", lint(source)


@pytest.mark.slow
def test_training_project_loads_a_whole_torchvision_checkpoint_into_the_encoder(tmp_path, monkeypatch):
    """train.py --pretrained: EfficientNet-B0's state_dict, features.8 and classifier included
    (layers after the encoder's last), goes into model.encoder; a stray key before them is one line."""
    import importlib
    import sys

    generate(
        "seg",
        {"encoder": "efficientnet_b0", "width": 4},
        output=Output.WRITE_PROJECT,
        parent=tmp_path,
        catalog=CATALOG,
    )
    project = tmp_path / "seg"
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    for name in ("config", "model", "train", "data", "images", "metrics"):
        sys.modules.pop(name, None)
    train = importlib.import_module("train")
    model = train.build_model()
    weights = deterministic_state(_manifest("efficientnet_b0"))
    assert any(k.startswith("features.8.") for k in weights) and "classifier.1.weight" in weights
    torch.save(weights, project / "b0.pth")
    train.load_pretrained(model, project / "b0.pth")
    assert torch.equal(
        model.encoder.features[7][0].block[3][1].running_var, weights["features.7.0.block.3.1.running_var"]
    )
    stray = {"features.0.extra": torch.zeros(1), **weights}
    torch.save(stray, project / "bad.pth")
    with pytest.raises(
        train.TrainError, match=r"does not fit model.encoder: 1 unexpected key\(s\), e.g. features.0.extra"
    ):
        train.load_pretrained(model, project / "bad.pth")


@pytest.mark.parametrize(
    "preset, upto",
    [("mobilenet_v2", None), ("efficientnet_b0", 8), ("densenet121", None), ("convnext_tiny", None)],
)
def test_the_deepest_feature_is_the_classifiers_features_output(preset, upto):
    """Same weights in the generated classifier and the UNet's encoder: the encoder's 1/32
    feature equals the classifier's ``features`` (EfficientNet: features 0-7), in eval mode."""
    head = HEAD[_family(preset)]
    weights = deterministic_state(_manifest(preset))
    classifier = generate(
        "c",
        {"arch": _family(preset), **encoders()[preset][1]},
        output=Output.RENDER,
        smoke=False,
        catalog=CATALOG,
    )
    reference = load_source(classifier.source, f"cls_{preset}").__dict__[classifier.plan.class_name]().eval()
    reference.load_state_dict(weights, strict=True)
    model = load_source(_unet(preset).source, f"deep_{preset}").UNet().eval()
    model.encoder.load_state_dict({k: v for k, v in weights.items() if not k.startswith(head)}, strict=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference.features[:upto](x) if upto else reference.features(x)
        deepest = model.encoder(x)[-1]
    assert deepest.shape == expected.shape
    assert torch.allclose(deepest, expected, rtol=0, atol=1e-5), float((deepest - expected).abs().max())
