"""The DenseNet blueprint (Huang et al. 2017, DenseNet-BC), laid out as torchvision's
``models/densenet.py``.

``features``: conv0 (7x7 stride 2), norm0, relu0, pool0 (3x3 max pool, stride 2), then
four dense blocks (``denseblock1`` .. ``denseblock4``) with a transition after each of the
first three (norm, act, 1x1 conv halving the channels, 2x2 average pool) and ``norm5``;
then act, global average pool and ``classifier``. A dense layer reads the concatenation of
its block's input and every earlier layer's output and adds ``growth_rate`` channels:
norm -> act -> 1x1 conv (``bn_size * growth_rate``) -> norm -> act -> 3x3 conv. ``--depth``
picks torchvision's densenet121/169/201 (layers per block; all three grow by 32 from a
64-channel stem conv, the defaults of ``--growth-rate`` and ``--width``).
Module names and state_dict keys are torchvision's, so its checkpoints load with
``strict=True``.

``--attn EXPR@POSITION``: ``layer`` (on every dense layer's new features, before they are
concatenated), ``block`` (after every dense block: ``features.denseblockN_attn``) or
``transition`` (after every transition: ``features.transitionN_attn``).
"""

from __future__ import annotations

from ..catalog import Catalog
from ..plan import Layer, Plan, Shape
from ..spec import Spec
from . import Blueprint, EncoderStages, Option
from ._classifier import Parts, check_norm, docstring, encoder, groups, head, hooks, picks, placements, stem

#: depth -> layers per dense block (torchvision's densenet*)
DEPTHS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}
BN_SIZE = 4
POSITIONS = {
    "layer": "on the new features of every dense layer (after its 3x3 conv), before they are concatenated",
    "block": "after every dense block (on the concatenation it returns)",
    "transition": "after every transition (1x1 conv and 2x2 average pool)",
}
BLOCK_DOC = "Concat -> norm, act, 1x1 conv -> norm, act, 3x3 conv: growth_rate channels."
SLOTS = ("attn", "norm", "act", "stem")


def plan(spec: Spec, catalog: Catalog) -> Plan:
    placed = placements(spec)
    counts = DEPTHS[spec.depth]
    growth = spec.growth_rate
    layers: list[Layer] = []
    first = stem(spec, catalog)
    if first is not None:
        layers.append(first)
    c = spec.width
    parts = Parts()
    parts.add(check_norm(spec, catalog, [c], "the stem"))
    conv0 = f"nn.Conv2d(in_channels, {c}, kernel_size=7, stride=2, padding=3, bias=False)"
    layers.append(Layer("features.conv0", conv0, "stem", ("x",), "x", Shape(c, 1), "nn.Conv2d 7x7"))
    layers.append(parts.layer("features.norm0", f"norm_layer({c})", "stem", Shape(c, 1), "norm_layer"))
    layers.append(Layer("features.relu0", "act_layer()", "stem", ("x",), "x", Shape(c, 1), "act_layer"))
    pool = "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)"
    layers.append(Layer("features.pool0", pool, "stem", ("x",), "x", Shape(c, 2), "nn.MaxPool2d"))

    def attend(position: str, attr: str, stage: str, channels: int, level: int) -> None:
        parts = Parts()
        code = parts.attention(catalog, placed, position, channels, stage)
        if code:
            layers.append(
                parts.layer(f"features.{attr}", code, stage, Shape(channels, level), code.split("(", 1)[0])
            )

    for i, count in enumerate(counts):
        level, stage = 2 + i, f"dense block {i + 1}"
        parts = Parts()
        parts.add(
            check_norm(spec, catalog, [c + j * growth for j in range(count)] + [BN_SIZE * growth], stage)
        )
        args = [str(c), str(count), f"growth_rate={growth}", f"bn_size={BN_SIZE}"]
        attn = parts.attention(catalog, placed, "layer", growth, stage)
        if attn:
            args.append(f"layer_attn=lambda: {attn}")
        c += count * growth
        code = f"DenseBlock({', '.join(args)})"
        layers.append(
            parts.layer(f"features.denseblock{i + 1}", code, stage, Shape(c, level), f"DenseBlock x{count}")
        )
        attend("block", f"denseblock{i + 1}_attn", stage, c, level)
        if i < len(counts) - 1:
            stage = f"transition {i + 1}"
            parts = Parts()
            parts.add(check_norm(spec, catalog, [c], stage))
            code = f"Transition({c}, {c // 2})"
            c //= 2
            layers.append(
                parts.layer(f"features.transition{i + 1}", code, stage, Shape(c, level + 1), "Transition")
            )
            attend("transition", f"transition{i + 1}_attn", stage, c, level + 1)
    parts = Parts()
    parts.add(check_norm(spec, catalog, [c], "norm5"))
    layers.append(parts.layer("features.norm5", f"norm_layer({c})", "head", Shape(c, 5), "norm_layer"))
    layers.append(Layer("relu", "act_layer()", "head", ("x",), "x", Shape(c, 5), "act_layer"))
    layers += head(c, 5, "classifier", f"nn.Linear({c}, classes)", spec.classes)

    title = f"DenseNet-{spec.depth}"
    chosen = picks(spec)
    if spec.growth_rate != 32:
        chosen.insert(0, f"growth rate {spec.growth_rate}")
    if spec.width != 64:
        chosen.insert(0, f"width {spec.width}")
    doc = (
        f"{title}: stem, dense blocks of {list(counts)} layers (growth {growth}) with transitions, "
        f"global average pool, classifier ({spec.classes} classes)."
    )
    return Plan(
        spec=spec,
        class_name="DenseNet",
        summary=title + (f"; {', '.join(chosen)}" if chosen else ""),
        doc=doc,
        layers=tuple(layers),
        hooks=hooks(spec, catalog, SLOTS),
        helpers=("pad_to_multiple", "norm_layer", "act_layer"),
        input=Shape(spec.in_channels, 0),
        divisor=32,
        result="x",
        pads=True,  # the transitions' 2x2 average pools floor odd sizes: pad, every stage halves exactly
        extra={
            "groups": groups(layers),
            "model_doc": docstring(f"{title} classifier (torchvision's layout and state_dict keys).", doc),
            "block_doc": docstring(
                BLOCK_DOC, "attn, when given, runs after the 3x3 conv on the new channels."
            ),
            "attn": [p for p in POSITIONS if p in placed],
            "imports": ("from collections import OrderedDict", "from typing import Callable, Optional"),
            "input": "any H and W (padded inside to a multiple of 32)",
            "layout": "Layout and state_dict keys as torchvision's DenseNet (features.conv0-norm5, classifier).",
        },
    )


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """``features`` without the final activation and the classifier, as smp's DenseNet encoder:
    features at 1/2 (after relu0), 1/4, 1/8 and 1/16 (inside transitions 1-3, after their norm
    and activation, before the conv and pool) and 1/32 (norm5)."""
    full = plan(spec, catalog)
    splits = {}
    for layer in full.layers:
        if layer.attr.startswith("features.transition") and layer.attr[-1].isdigit():
            before = Shape(2 * layer.shape.channels, layer.shape.level - 1)
            conv = Shape(layer.shape.channels, layer.shape.level - 1)
            # a shallower --depth ends the encoder at the relu: the transition keeps norm and relu
            norm_relu = f'nn.Sequential(OrderedDict([("norm", norm_layer({before.channels})), ("relu", act_layer())]))'
            splits[layer.attr] = [
                (f"{layer.attr}.norm", ".norm", before, ""),
                (f"{layer.attr}.relu", ".relu", before, norm_relu),
                (f"{layer.attr}.conv", ".conv", conv, ""),
                (layer.attr, ".pool", layer.shape, ""),
            ]
    taps = ("features.relu0", *(f"features.transition{i}.relu" for i in (1, 2, 3)), "features.norm5")
    title = f"DenseNet-{spec.depth}"
    return encoder(full, taps, "DenseNetEncoder", f"{title}'s features", splits)


BLUEPRINT = Blueprint(
    name="densenet",
    title="DenseNet",
    help="DenseNet-BC classifier (Huang et al. 2017) with torchvision's layout and keys; --depth 121, 169, 201",
    task="classification",
    output="logits",
    options=(
        Option("in_channels", 3, "input channels", 1, 4096),
        Option("classes", 1000, "classes (the classifier's outputs)", 1, 100000),
        Option("depth", 121, "depth preset: layers per dense block as torchvision", choices=tuple(DEPTHS)),
        Option("width", 64, "channels of the stem conv (torchvision: 64)", 1, 4096),
        Option("growth_rate", 32, "channels each dense layer adds (torchvision: 32)", 1, 1024),
    ),
    slots=SLOTS,
    positions=POSITIONS,
    default_positions=("block",),
    plan=plan,
    diagram="chain",
    examples=("plugscaffold new d121 --arch densenet", "plugscaffold new d121_se --arch densenet --attn se"),
    presets={f"densenet{d}": {"depth": d} for d in DEPTHS},
    encoder=encoder_stages,
)
