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
from . import EncoderStages, Option
from ._classifier import (
    Layout,
    Parts,
    check_norm,
    classifier_blueprint,
    classifier_plan,
    conv_head,
    conv_stem,
    depth_of,
    encoder,
    make_divisible,
    placements,
    sequential,
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
LAYOUT = Layout(
    class_name="EfficientNet",
    keys="features.0-8, classifier",
    block_doc="1x1 expand -> kxk depthwise (stride) -> se -> 1x1 project (+ input if kept).",
    block_attn={"branch": "after the projection's norm, before the add", "block": "after the block"},
    attn=("branch", "block"),  # an attention at se takes the SE's place (native_se)
    pads=False,
)


def _title(spec: Spec) -> str:
    return f"EfficientNet-{spec.variant.upper()}"


def plan(spec: Spec, catalog: Catalog) -> Plan:
    width_mult, depth_mult, dropout = VARIANTS[spec.variant]
    scale = width_mult / 100 * spec.width / 100
    stages = [
        (t, k, s, make_divisible(cin * scale), make_divisible(cout * scale), depth_of(n, depth_mult))
        for t, k, s, cin, cout, n in SETTING
    ]
    layers = stem(spec, catalog)
    layers.append(conv_stem(spec, catalog, stages[0][3]))
    layers += _stages(spec, catalog, stages)
    channels, level = layers[-1].shape.channels, layers[-1].shape.level
    last = 4 * channels
    layers += conv_head(spec, catalog, "features.8", channels, last, level, f"p={dropout}, inplace=True")
    doc = (
        f"{_title(spec)}: stem, {sum(n for *_, n in stages)} MBConv blocks in 7 stages, 1x1 conv to {last}, "
        f"global average pool, classifier ({spec.classes} classes)."
    )
    sizes = (f"width {spec.width}%",) if spec.width != 100 else ()
    native_se = "se" not in placements(spec)
    return classifier_plan(spec, catalog, layers, LAYOUT, _title(spec), doc, sizes, native_se=native_se)


def _stages(spec: Spec, catalog: Catalog, stages: list[tuple[int, ...]]) -> list[Layer]:
    """``features.1`` .. ``features.7``: the MBConv stages of ``stages`` (expansion, kernel, first
    stride, input and output channels, blocks); stochastic depth grows linearly over the blocks."""
    placed = placements(spec)
    total = sum(n for *_, n in stages)
    layers: list[Layer] = []
    channels, level, block_id = stages[0][3], 1, 0
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
            args = [str(cin), str(out), f"kernel_size={k}", f"stride={stride}", f"expand_ratio={t}"]
            args += [f"se={se}", *parts.attention_args(catalog, placed, {"branch": out, "block": out}, stage)]
            args.append(f"stochastic_depth={round(STOCHASTIC_DEPTH * block_id / total, 4)}")
            calls.append(f"MBConv({', '.join(args)})")
            block_id += 1
        channels = out
        code, shape = sequential(calls), Shape(out, level)
        layers.append(parts.layer(f"features.{i + 1}", code, stage, shape, f"MBConv{t} k{k} x{n}", s == 2))
    return layers


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """``features.0``-``features.7`` (the 1x1 conv to 4x channels and the classifier dropped), as
    smp's EfficientNet encoders: features at 1/2 (the stem), 1/4 (end of stage 2), 1/8 (stage 3),
    1/16 (stage 5) and 1/32 (stage 7). (smp's b0 table taps 1/16 after stage 5's first block,
    its b1-b7 tables at the end of stage 5, as here and as timm's features.)"""
    taps = ("features.0", "features.2", "features.3", "features.5", "features.7")
    return encoder(plan(spec, catalog), taps, "EfficientNetEncoder", f"{_title(spec)}'s features 0-7")


BLUEPRINT = classifier_blueprint(
    name="efficientnet",
    title="EfficientNet",
    help="EfficientNet classifier (Tan and Le 2019) with torchvision's layout and keys; --variant b0-b4",
    options=(
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
    slot_defaults={"act": "silu"},
    positions=POSITIONS,
    default_positions=("se",),
    plan=plan,
    examples=(
        "plugscaffold new b0 --arch efficientnet",
        "plugscaffold new b0_cbam --arch efficientnet --attn cbam",
    ),
    presets={f"efficientnet_{v}": {"variant": v} for v in VARIANTS},
    encoder=encoder_stages,
)
