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
from . import Blueprint, EncoderStages, Option
from ._classifier import (
    Parts,
    attention_doc,
    check_norm,
    docstring,
    encoder,
    groups,
    head,
    hooks,
    make_divisible,
    picks,
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
BLOCK_DOC = "1x1 expand -> 3x3 depthwise (stride) -> 1x1 project (+ input if kept)."
#: where each attention of the block class runs (its docstring)
BLOCK_ATTN = {
    "dw": "after the depthwise conv",
    "branch": "after the projection's norm, before the add",
    "block": "after the block",
}
SLOTS = ("attn", "norm", "act", "stem")


def plan(spec: Spec, catalog: Catalog) -> Plan:
    placed = placements(spec)
    scale = spec.width / 32
    channels = make_divisible(32 * scale)
    last = make_divisible(LAST * max(1.0, scale))
    layers: list[Layer] = []
    first = stem(spec, catalog)
    if first is not None:
        layers.append(first)
    parts = Parts()
    parts.add(check_norm(spec, catalog, [channels], "the stem"))
    layers.append(
        parts.layer(
            "features.0",
            f"ConvNormAct(in_channels, {channels}, stride=2)",
            "stem",
            Shape(channels, 1),
            "ConvNormAct",
        )
    )
    index, level = 1, 1
    for i, (t, c, n, s) in enumerate(SETTING):
        out = make_divisible(c * scale)
        stage = f"stage {i + 1}"
        for j in range(n):
            stride = s if j == 0 else 1
            level += stride == 2
            hidden = channels * t
            parts = Parts()
            parts.add(check_norm(spec, catalog, [hidden, out], stage))
            args = [str(channels), str(out), f"stride={stride}", f"expand_ratio={t}"]
            for position, width in (("dw", hidden), ("branch", out), ("block", out)):
                code = parts.attention(catalog, placed, position, width, stage)
                if code:
                    args.append(f"{position}_attn={code}")
            code = f"InvertedResidual({', '.join(args)})"
            layers.append(
                parts.layer(
                    f"features.{index}", code, stage, Shape(out, level), "InvertedResidual", stride == 2
                )
            )
            index += 1
            channels = out
    parts = Parts()
    parts.add(check_norm(spec, catalog, [last], "the last conv"))
    layers.append(
        parts.layer(
            f"features.{index}",
            f"ConvNormAct({channels}, {last}, kernel_size=1)",
            "last conv",
            Shape(last, level),
            "ConvNormAct",
        )
    )
    classifier = f"nn.Sequential(nn.Dropout(p=0.2), nn.Linear({last}, classes))"
    layers += head(last, level, "classifier", classifier, spec.classes)

    chosen = picks(spec)
    if spec.width != 32:
        chosen.insert(0, f"width {spec.width} (width_mult {scale:g})")
    title = "MobileNetV2"
    blocks = sum(n for _, _, n, _ in SETTING)
    doc = (
        f"{title}: stem, {blocks} inverted residual blocks in 7 stages, 1x1 conv to {last}, "
        f"global average pool, classifier ({spec.classes} classes)."
    )
    return Plan(
        spec=spec,
        class_name="MobileNetV2",
        summary=title + (f"; {', '.join(chosen)}" if chosen else ""),
        doc=doc,
        layers=tuple(layers),
        hooks=hooks(spec, catalog, SLOTS),
        helpers=("norm_layer", "act_layer"),
        input=Shape(spec.in_channels, 0),
        divisor=32,
        result="x",
        pads=False,
        extra={
            "groups": groups(layers),
            "model_doc": docstring(f"{title} classifier (torchvision's layout and state_dict keys).", doc),
            "block_doc": docstring(
                BLOCK_DOC,
                attention_doc([p for p in POSITIONS if p in placed and p in BLOCK_ATTN], BLOCK_ATTN),
            ),
            "attn": [p for p in POSITIONS if p in placed],
            "input": "any H and W (each stride-2 layer rounds up; 32x32 and larger)",
            "layout": "Layout and state_dict keys as torchvision's MobileNetV2 (features.0-18, classifier).",
        },
    )


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """``features`` without the classifier, as smp's MobileNetV2 encoder: features at 1/2 (after
    features.1), 1/4 (.3), 1/8 (.6), 1/16 (.13) and 1/32 (.18, the 1x1 conv to 1280)."""
    taps = ("features.1", "features.3", "features.6", "features.13", "features.18")
    return encoder(plan(spec, catalog), taps, "MobileNetV2Encoder", "MobileNetV2's features")


BLUEPRINT = Blueprint(
    name="mobilenet_v2",
    title="MobileNetV2",
    help="MobileNetV2 classifier (Sandler et al. 2018) with torchvision's layout and keys",
    task="classification",
    output="logits",
    options=(
        Option("in_channels", 3, "input channels", 1, 4096),
        Option("classes", 1000, "classes (the classifier's outputs)", 1, 100000),
        Option(
            "width", 32, "stem channels; every stage scales by width / 32 (torchvision's width_mult)", 8, 1024
        ),
    ),
    slots=SLOTS,
    slot_defaults={"act": "relu6"},
    positions=POSITIONS,
    default_positions=("dw",),
    plan=plan,
    diagram="chain",
    examples=(
        "plugscaffold new mnv2 --arch mobilenet_v2",
        "plugscaffold new se_mnv2 --arch mobilenet_v2 --attn se",
    ),
    presets={"mobilenet_v2": {}},
    encoder=encoder_stages,
)
