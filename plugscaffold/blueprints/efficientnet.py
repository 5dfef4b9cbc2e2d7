"""The EfficientNet blueprint (Tan and Le 2019), laid out as torchvision's
``models/efficientnet.py`` (B0-B4).

``features``: a stride-2 3x3 conv-norm-act stem (``features.0``), seven stages of MBConv
blocks (``features.1`` .. ``features.7``: expansion, kernel, first stride, channels, blocks
1-3-1-16-1, 6-3-2-24-2, 6-5-2-40-2, 6-3-2-80-3, 6-5-1-112-3, 6-5-2-192-4, 6-3-1-320-1) and a
1x1 conv to 4x the last stage's channels (``features.8``); then global average pool and
``classifier`` (dropout, linear). An MBConv block: 1x1 expand -> kxk depthwise (stride) ->
squeeze-and-excitation (squeeze to a quarter of the block's input channels) -> 1x1 project
-> norm, + input (with stochastic depth) when the shape is kept. ``--variant`` b0-b4 sets
torchvision's width and depth multipliers and dropout; ``--width`` scales the variant's channels
in percent (channels round to multiples of 8 as torchvision's). Module names and state_dict
keys are torchvision's, so its checkpoints load with ``strict=True``.

Slots: ``norm`` (BatchNorm), ``act`` (SiLU by default, also inside the SE), ``stem``.
``--attn EXPR@POSITION``: ``se`` (in place of the block's squeeze-and-excitation),
``branch`` (after the projection's norm, before the add) or ``block`` (after the block).
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
    depth_of,
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

#: (expansion, kernel, first stride, input channels, output channels, blocks) per stage (B0)
SETTING = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
#: variant -> width multiplier (percent), depth multiplier, dropout (torchvision's efficientnet_b*)
VARIANTS = {
    "b0": (100, 1.0, 0.2),
    "b1": (100, 1.1, 0.2),
    "b2": (110, 1.2, 0.3),
    "b3": (120, 1.4, 0.3),
    "b4": (140, 1.8, 0.4),
}
STOCHASTIC_DEPTH = 0.2
POSITIONS = {
    "se": "in place of every block's squeeze-and-excitation (after the depthwise conv)",
    "branch": "on the residual branch before the add (after the projection's norm)",
    "block": "after every block",
}
BLOCK_DOC = "1x1 expand -> kxk depthwise (stride) -> se -> 1x1 project (+ input if kept)."
#: where each attention of the block class runs (its docstring)
BLOCK_ATTN = {"branch": "after the projection's norm, before the add", "block": "after the block"}
SLOTS = ("attn", "norm", "act", "stem")


def plan(spec: Spec, catalog: Catalog) -> Plan:
    placed = placements(spec)
    width_mult, depth_mult, dropout = VARIANTS[spec.variant]
    scale = width_mult / 100 * spec.width / 100
    stages = [
        (t, k, s, make_divisible(cin * scale), make_divisible(cout * scale), depth_of(n, depth_mult))
        for t, k, s, cin, cout, n in SETTING
    ]
    total = sum(n for *_, n in stages)
    layers: list[Layer] = []
    first = stem(spec, catalog)
    if first is not None:
        layers.append(first)
    channels = stages[0][3]
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
    level, block_id = 1, 0
    for i, (t, k, s, _, out, n) in enumerate(stages):
        level += s == 2
        stage = f"stage {i + 1}"
        parts = Parts()
        calls = []
        for j in range(n):
            cin, stride = (channels, s) if j == 0 else (out, 1)
            expanded = make_divisible(cin * t)
            parts.add(check_norm(spec, catalog, [expanded, out], stage))
            se = (
                parts.attention(catalog, placed, "se", expanded, stage)
                or f"SqueezeExcitation({expanded}, {max(1, cin // 4)})"
            )
            args = [
                str(cin),
                str(out),
                f"kernel_size={k}",
                f"stride={stride}",
                f"expand_ratio={t}",
                f"se={se}",
            ]
            for position in ("branch", "block"):
                attn = parts.attention(catalog, placed, position, out, stage)
                if attn:
                    args.append(f"{position}_attn={attn}")
            args.append(f"stochastic_depth={round(STOCHASTIC_DEPTH * block_id / total, 4)}")
            calls.append(f"MBConv({', '.join(args)})")
            block_id += 1
        channels = out
        code = "nn.Sequential(\n" + "".join(f"{c},\n" for c in calls) + ")"
        layers.append(
            parts.layer(f"features.{i + 1}", code, stage, Shape(out, level), f"MBConv{t} k{k} x{n}", s == 2)
        )
    last = 4 * channels
    parts = Parts()
    parts.add(check_norm(spec, catalog, [last], "the last conv"))
    layers.append(
        parts.layer(
            "features.8",
            f"ConvNormAct({channels}, {last}, kernel_size=1)",
            "last conv",
            Shape(last, level),
            "ConvNormAct",
        )
    )
    classifier = f"nn.Sequential(nn.Dropout(p={dropout}, inplace=True), nn.Linear({last}, classes))"
    layers += head(last, level, "classifier", classifier, spec.classes)

    title = f"EfficientNet-{spec.variant.upper()}"
    chosen = picks(spec)
    if spec.width != 100:
        chosen.insert(0, f"width {spec.width}%")
    doc = (
        f"{title}: stem, {total} MBConv blocks in 7 stages, 1x1 conv to {last}, global average pool, "
        f"classifier ({spec.classes} classes)."
    )
    return Plan(
        spec=spec,
        class_name="EfficientNet",
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
            "attn": [p for p in ("branch", "block") if p in placed],
            "native_se": "se" not in placed,
            "input": "any H and W (each stride-2 layer rounds up; 32x32 and larger)",
            "layout": "Layout and state_dict keys as torchvision's EfficientNet (features.0-8, classifier).",
        },
    )


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """``features.0``-``features.7`` (the 1x1 conv to 4x channels and the classifier dropped), as
    smp's EfficientNet encoders: features at 1/2 (the stem), 1/4 (end of stage 2), 1/8 (stage 3),
    1/16 (stage 5) and 1/32 (stage 7). (smp's b0 table taps 1/16 after stage 5's first block,
    its b1-b7 tables at the end of stage 5, as here and as timm's features.)"""
    taps = ("features.0", "features.2", "features.3", "features.5", "features.7")
    title = f"EfficientNet-{spec.variant.upper()}"
    return encoder(plan(spec, catalog), taps, "EfficientNetEncoder", f"{title}'s features 0-7")


BLUEPRINT = Blueprint(
    name="efficientnet",
    title="EfficientNet",
    help="EfficientNet classifier (Tan and Le 2019) with torchvision's layout and keys; --variant b0-b4",
    task="classification",
    output="logits",
    options=(
        Option("in_channels", 3, "input channels", 1, 4096),
        Option("classes", 1000, "classes (the classifier's outputs)", 1, 100000),
        Option(
            "variant",
            "b0",
            "width and depth multipliers and dropout of torchvision's efficientnet_b*",
            choices=tuple(VARIANTS),
            kind=str,
        ),
        Option(
            "width", 100, "channels in percent of the variant's (its width_mult: b2 1.1, b4 1.4)", 10, 800
        ),
    ),
    slots=SLOTS,
    slot_defaults={"act": "silu"},
    positions=POSITIONS,
    default_positions=("se",),
    plan=plan,
    diagram="chain",
    examples=(
        "plugscaffold new b0 --arch efficientnet",
        "plugscaffold new b0_cbam --arch efficientnet --attn cbam",
    ),
    presets={f"efficientnet_{v}": {"variant": v} for v in VARIANTS},
    encoder=encoder_stages,
)
