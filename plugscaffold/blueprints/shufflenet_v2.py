"""The ShuffleNetV2 blueprint (Ma et al. 2018), laid out as torchvision's
``models/shufflenetv2.py``.

``conv1`` (3x3 stride-2 conv, norm, act), ``maxpool``, stages ``stage2`` .. ``stage4`` of
4, 8 and 4 units (the first of each with stride 2), ``conv5`` (1x1 conv, norm, act), global
average pool and ``fc``. ``--scale`` picks the channels of the paper's Table 5 as
torchvision's ``shufflenet_v2_x{0_5,1_0,1_5,2_0}``. A stride-1 unit splits its channels in
two halves, passes one through and sends the other through ``branch2`` (1x1 conv, 3x3
depthwise conv, 1x1 conv); a stride-2 unit sends the whole input through ``branch1``
(depthwise conv, 1x1 conv) and ``branch2``; the halves are concatenated and shuffled.
Module names and state_dict keys are torchvision's, so its checkpoints load with
``strict=True``.

``--attn EXPR@POSITION``: ``branch`` (at the end of ``branch2``, before the concat) or
``block`` (after the channel shuffle).
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
    picks,
    placements,
    stem,
)

REPEATS = (4, 8, 4)
#: --scale -> channels of conv1, stage2-4 and conv5 (torchvision, the paper's Table 5)
CHANNELS = {
    "0.5": (24, 48, 96, 192, 1024),
    "1.0": (24, 116, 232, 464, 1024),
    "1.5": (24, 176, 352, 704, 1024),
    "2.0": (24, 244, 488, 976, 2048),
}
POSITIONS = {
    "branch": "at the end of every unit's branch2 (after its last act), before the concat",
    "block": "after every unit (after the channel shuffle)",
}
BLOCK_DOC = "Split or branch1 | branch2 (1x1, 3x3 depthwise, 1x1) -> concat -> shuffle."
#: where each attention of the block class runs (its docstring)
BLOCK_ATTN = {"branch": "at the end of branch2, before the concat", "block": "after the shuffle"}
SLOTS = ("attn", "norm", "act", "stem")


def plan(spec: Spec, catalog: Catalog) -> Plan:
    placed = placements(spec)
    widths = CHANNELS[spec.scale]
    layers: list[Layer] = []
    first = stem(spec, catalog)
    if first is not None:
        layers.append(first)
    c0 = widths[0]
    parts = Parts()
    parts.add(check_norm(spec, catalog, [c0], "conv1"))
    code = f"nn.Sequential(nn.Conv2d(in_channels, {c0}, 3, 2, 1, bias=False), norm_layer({c0}), act_layer())"
    layers.append(parts.layer("conv1", code, "stem", Shape(c0, 1), "3x3 conv, norm, act"))
    layers.append(
        Layer(
            "maxpool",
            "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)",
            "stem",
            ("x",),
            "x",
            Shape(c0, 2),
            "nn.MaxPool2d",
        )
    )
    channels = c0
    for i, (count, out) in enumerate(zip(REPEATS, widths[1:4])):
        stage = f"stage {i + 2}"
        parts = Parts()
        parts.add(check_norm(spec, catalog, [channels, out // 2], stage))
        calls = []
        for j in range(count):
            args = [str(channels if j == 0 else out), str(out), f"stride={2 if j == 0 else 1}"]
            for position, width in (("branch", out // 2), ("block", out)):
                attn = parts.attention(catalog, placed, position, width, stage)
                if attn:
                    args.append(f"{position}_attn={attn}")
            calls.append(f"InvertedResidual({', '.join(args)})")
        code = "nn.Sequential(\n" + "".join(f"{c},\n" for c in calls) + ")"
        layers.append(
            parts.layer(f"stage{i + 2}", code, stage, Shape(out, 3 + i), f"InvertedResidual x{count}", True)
        )
        channels = out
    last = widths[-1]
    parts = Parts()
    parts.add(check_norm(spec, catalog, [last], "conv5"))
    code = (
        f"nn.Sequential(nn.Conv2d({channels}, {last}, 1, 1, 0, bias=False), norm_layer({last}), act_layer())"
    )
    layers.append(parts.layer("conv5", code, "head", Shape(last, 5), "1x1 conv, norm, act"))
    layers += head(last, 5, "fc", f"nn.Linear({last}, classes)", spec.classes)

    title = f"ShuffleNetV2 {spec.scale}x"
    chosen = picks(spec)
    doc = (
        f"{title}: conv1, maxpool, stage2-stage4 of {list(REPEATS)} units, conv5, global average pool, "
        f"fc ({spec.classes} classes)."
    )
    return Plan(
        spec=spec,
        class_name="ShuffleNetV2",
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
            "layout": "Layout and state_dict keys as torchvision's ShuffleNetV2 (conv1, stage2-4, conv5, fc).",
        },
    )


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """conv1 to conv5 (the pool and fc dropped): features at 1/2 (conv1), 1/4 (maxpool), 1/8
    (stage2), 1/16 (stage3) and 1/32 (conv5, after stage4), the last feature map as smp's
    MobileNetV2 encoder takes its last 1x1 conv (smp has no ShuffleNetV2 encoder)."""
    taps = ("conv1", "maxpool", "stage2", "stage3", "conv5")
    title = f"ShuffleNetV2 {spec.scale}x"
    return encoder(plan(spec, catalog), taps, "ShuffleNetV2Encoder", f"{title}'s conv1-conv5")


BLUEPRINT = Blueprint(
    name="shufflenet_v2",
    title="ShuffleNetV2",
    help="ShuffleNetV2 classifier (Ma et al. 2018) with torchvision's layout and keys; --scale 0.5, 1.0, 1.5, 2.0",
    task="classification",
    output="logits",
    options=(
        Option("in_channels", 3, "input channels", 1, 4096),
        Option("classes", 1000, "classes (the fc layer's outputs)", 1, 100000),
        Option(
            "scale",
            "1.0",
            "channel multiplier: torchvision's shufflenet_v2_x0_5 .. x2_0",
            choices=tuple(CHANNELS),
            kind=str,
        ),
    ),
    slots=SLOTS,
    positions=POSITIONS,
    default_positions=("branch",),
    plan=plan,
    diagram="chain",
    examples=(
        "plugscaffold new sn --arch shufflenet_v2 --scale 0.5",
        "plugscaffold new sn_se --arch shufflenet_v2 --attn se",
    ),
    presets={f"shufflenet_v2_x{s.replace('.', '_')}": {"scale": s} for s in CHANNELS},
    encoder=encoder_stages,
    resize=None,
)
