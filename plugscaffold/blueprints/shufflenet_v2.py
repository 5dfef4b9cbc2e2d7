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
from . import EncoderStages, Option
from ._classifier import (
    Layout,
    Parts,
    check_norm,
    classifier_blueprint,
    classifier_plan,
    encoder,
    head,
    normed,
    placements,
    sequential,
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
LAYOUT = Layout(
    class_name="ShuffleNetV2",
    keys="conv1, stage2-4, conv5, fc",
    block_doc="Split or branch1 | branch2 (1x1, 3x3 depthwise, 1x1) -> concat -> shuffle.",
    block_attn={"branch": "at the end of branch2, before the concat", "block": "after the shuffle"},
    attn=tuple(POSITIONS),
    pads=False,
)


def _title(spec: Spec) -> str:
    return f"ShuffleNetV2 {spec.scale}x"


def plan(spec: Spec, catalog: Catalog) -> Plan:
    widths = CHANNELS[spec.scale]
    c0, last = widths[0], widths[-1]
    layers = stem(spec, catalog)
    code, shape = _conv("in_channels", c0, "3, 2, 1"), Shape(c0, 1)
    layers.append(normed(spec, catalog, "conv1", code, "stem", shape, "3x3 conv, norm, act", "conv1"))
    pool = "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)"
    layers.append(Layer("maxpool", pool, "stem", ("x",), "x", Shape(c0, 2), "nn.MaxPool2d"))
    layers += _stages(spec, catalog, widths)
    code, shape = _conv(widths[3], last, "1, 1, 0"), Shape(last, 5)
    layers.append(normed(spec, catalog, "conv5", code, "head", shape, "1x1 conv, norm, act", "conv5"))
    layers += head(last, 5, "fc", f"nn.Linear({last}, classes)", spec.classes)
    doc = (
        f"{_title(spec)}: conv1, maxpool, stage2-stage4 of {list(REPEATS)} units, conv5, global average "
        f"pool, fc ({spec.classes} classes)."
    )
    return classifier_plan(spec, catalog, layers, LAYOUT, _title(spec), doc)


def _conv(in_channels: int | str, out_channels: int, args: str) -> str:
    """conv1's and conv5's code: conv (``args``: kernel, stride, padding; no bias), norm, act."""
    conv = f"nn.Conv2d({in_channels}, {out_channels}, {args}, bias=False)"
    return f"nn.Sequential({conv}, norm_layer({out_channels}), act_layer())"


def _stages(spec: Spec, catalog: Catalog, widths: tuple[int, ...]) -> list[Layer]:
    """``stage2`` .. ``stage4``: units whose first halves the size (``widths``: Table 5's row)."""
    placed = placements(spec)
    layers: list[Layer] = []
    channels = widths[0]
    for i, (count, out) in enumerate(zip(REPEATS, widths[1:4])):
        stage = f"stage {i + 2}"
        parts = Parts().add(check_norm(spec, catalog, [channels, out // 2], stage))
        calls = []
        for j in range(count):
            args = [str(channels if j == 0 else out), str(out), f"stride={2 if j == 0 else 1}"]
            args += parts.attention_args(catalog, placed, {"branch": out // 2, "block": out}, stage)
            calls.append(f"InvertedResidual({', '.join(args)})")
        code, shape = sequential(calls), Shape(out, 3 + i)
        layers.append(parts.layer(f"stage{i + 2}", code, stage, shape, f"InvertedResidual x{count}", True))
        channels = out
    return layers


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """conv1 to conv5 (the pool and fc dropped): features at 1/2 (conv1), 1/4 (maxpool), 1/8
    (stage2), 1/16 (stage3) and 1/32 (conv5, after stage4), the last feature map as smp's
    MobileNetV2 encoder takes its last 1x1 conv (smp has no ShuffleNetV2 encoder)."""
    taps = ("conv1", "maxpool", "stage2", "stage3", "conv5")
    return encoder(plan(spec, catalog), taps, "ShuffleNetV2Encoder", f"{_title(spec)}'s conv1-conv5")


BLUEPRINT = classifier_blueprint(
    name="shufflenet_v2",
    title="ShuffleNetV2",
    help=(
        "ShuffleNetV2 classifier (Ma et al. 2018) with torchvision's layout and keys; "
        "--scale 0.5, 1.0, 1.5, 2.0"
    ),
    classes="the fc layer's outputs",
    options=(
        Option(
            "scale",
            "1.0",
            "channel multiplier: torchvision's shufflenet_v2_x0_5 .. x2_0",
            choices=tuple(CHANNELS),
            kind=str,
        ),
    ),
    positions=POSITIONS,
    default_positions=("branch",),
    plan=plan,
    examples=(
        "plugscaffold new sn --arch shufflenet_v2 --scale 0.5",
        "plugscaffold new sn_se --arch shufflenet_v2 --attn se",
    ),
    presets={f"shufflenet_v2_x{s.replace('.', '_')}": {"scale": s} for s in CHANNELS},
    encoder=encoder_stages,
    resize=None,
)
