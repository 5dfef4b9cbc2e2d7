"""The MobileNetV2 blueprint (Sandler et al. 2018), laid out as torchvision's
``models/mobilenetv2.py``.

``features``: a stride-2 3x3 conv-norm-ReLU6 stem (``features.0``), 17 inverted residual
blocks in seven stages (expansion t, channels c, blocks n, first stride s: 1-16-1-1,
6-24-2-2, 6-32-3-2, 6-64-4-2, 6-96-3-1, 6-160-3-2, 6-320-1-1) and a 1x1 conv to 1280
channels (``features.18``); then global average pool and ``classifier`` (dropout 0.2,
linear). ``--width`` is the stem's channels (torchvision: 32): every stage's channels are
scaled by width / 32 and rounded to multiples of 8 as torchvision's ``width_mult`` does.
Module names and state_dict keys are torchvision's, so its checkpoints load with
``strict=True``.

``--attn EXPR@POSITION``: ``dw`` (after the depthwise conv's norm and activation, where
MobileNetV3 and MnasNet put squeeze-and-excitation), ``branch`` (after the projection's norm,
before the add) or ``block`` (after the block). ``--norm`` and ``--act`` (ReLU6 by default, as
torchvision's) are every conv-norm-act's; ``--stem`` a module on the input.
"""

from __future__ import annotations

from ..catalog import Catalog
from ..plan import Layer, Plan, Shape
from ..spec import Spec
from . import EncoderStages, Option
from ._classifier import (
    Layout,
    Parts,
    check_norm,
    classifier_blueprint,
    classifier_plan,
    conv_head,
    conv_stem,
    encoder,
    make_divisible,
    placements,
    stem,
)

#: (expansion t, channels c, blocks n, first stride s) per stage (torchvision, the paper's Table 2)
SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
LAST = 1280

POSITIONS = {
    "dw": "after the 3x3 depthwise conv of every block (after its norm and act): MobileNetV3's SE position",
    "branch": "on the residual branch before the add (after the projection's norm)",
    "block": "after every block",
}
LAYOUT = Layout(
    class_name="MobileNetV2",
    keys="features.0-18, classifier",
    block_doc="1x1 expand -> 3x3 depthwise (stride) -> 1x1 project (+ input if kept).",
    block_attn={
        "dw": "after the depthwise conv",
        "branch": "after the projection's norm, before the add",
        "block": "after the block",
    },
    attn=tuple(POSITIONS),
    pads=False,
)


def plan(spec: Spec, catalog: Catalog) -> Plan:
    scale = spec.width / 32
    layers = stem(spec, catalog)
    layers.append(conv_stem(spec, catalog, make_divisible(32 * scale)))
    layers += _blocks(spec, catalog, scale)
    blocks = sum(n for _, _, n, _ in SETTING)
    channels, level = layers[-1].shape.channels, layers[-1].shape.level
    last = make_divisible(LAST * max(1.0, scale))
    layers += conv_head(spec, catalog, f"features.{blocks + 1}", channels, last, level, "p=0.2")
    doc = (
        f"MobileNetV2: stem, {blocks} inverted residual blocks in 7 stages, 1x1 conv to {last}, "
        f"global average pool, classifier ({spec.classes} classes)."
    )
    sizes = (f"width {spec.width} (width_mult {scale:g})",) if spec.width != 32 else ()
    return classifier_plan(spec, catalog, layers, LAYOUT, "MobileNetV2", doc, sizes)


def _blocks(spec: Spec, catalog: Catalog, scale: float) -> list[Layer]:
    """``features.1`` .. ``features.17``: the inverted residual blocks, one layer each as
    torchvision's, in the stages of SETTING with channels scaled by ``scale``."""
    placed = placements(spec)
    layers: list[Layer] = []
    channels, level = make_divisible(32 * scale), 1
    for i, (t, c, n, s) in enumerate(SETTING):
        out = make_divisible(c * scale)
        stage = f"stage {i + 1}"
        for j in range(n):
            stride = s if j == 0 else 1
            level += stride == 2
            hidden = channels * t
            parts = Parts().add(check_norm(spec, catalog, [hidden, out], stage))
            args = [str(channels), str(out), f"stride={stride}", f"expand_ratio={t}"]
            args += parts.attention_args(catalog, placed, {"dw": hidden, "branch": out, "block": out}, stage)
            code, shape = f"InvertedResidual({', '.join(args)})", Shape(out, level)
            attr = f"features.{len(layers) + 1}"
            layers.append(parts.layer(attr, code, stage, shape, "InvertedResidual", stride == 2))
            channels = out
    return layers


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """``features`` without the classifier, as smp's MobileNetV2 encoder: features at 1/2 (after
    features.1), 1/4 (.3), 1/8 (.6), 1/16 (.13) and 1/32 (.18, the 1x1 conv to 1280)."""
    taps = ("features.1", "features.3", "features.6", "features.13", "features.18")
    return encoder(plan(spec, catalog), taps, "MobileNetV2Encoder", "MobileNetV2's features")


BLUEPRINT = classifier_blueprint(
    name="mobilenet_v2",
    title="MobileNetV2",
    help="MobileNetV2 classifier (Sandler et al. 2018) with torchvision's layout and keys",
    options=(
        Option(
            "width", 32, "stem channels; every stage scales by width / 32 (torchvision's width_mult)", 8, 1024
        ),
    ),
    slot_defaults={"act": "relu6"},
    positions=POSITIONS,
    default_positions=("dw",),
    plan=plan,
    examples=(
        "plugscaffold new mnv2 --arch mobilenet_v2",
        "plugscaffold new se_mnv2 --arch mobilenet_v2 --attn se",
    ),
    presets={"mobilenet_v2": {}},
    encoder=encoder_stages,
)
