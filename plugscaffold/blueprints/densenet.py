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
from ..placement import Term
from ..plan import Layer, Plan, Shape, callee
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
    stem,
)

#: depth -> layers per dense block (torchvision's densenet*)
DEPTHS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}
BN_SIZE = 4
POSITIONS = {
    "layer": "on the new features of every dense layer (after its 3x3 conv), before they are concatenated",
    "block": "after every dense block (on the concatenation it returns)",
    "transition": "after every transition (1x1 conv and 2x2 average pool)",
}
LAYOUT = Layout(
    class_name="DenseNet",
    keys="features.conv0-norm5, classifier",
    block_doc="Concat -> norm, act, 1x1 conv -> norm, act, 3x3 conv: growth_rate channels.",
    block_attn="attn, when given, runs after the 3x3 conv on the new channels.",
    attn=tuple(POSITIONS),
    pads=True,  # the transitions' 2x2 average pools floor odd sizes: pad, every stage halves exactly
)
IMPORTS = ("from collections import OrderedDict", "from typing import Callable, Optional")


def _title(spec: Spec) -> str:
    return f"DenseNet-{spec.depth}"


def plan(spec: Spec, catalog: Catalog) -> Plan:
    layers = stem(spec, catalog) + _stem(spec, catalog)
    blocks, c = _blocks(spec, catalog)
    layers += blocks
    shape = Shape(c, 5)
    layers.append(
        normed(spec, catalog, "features.norm5", f"norm_layer({c})", "head", shape, "norm_layer", "norm5")
    )
    layers.append(Layer("relu", "act_layer()", "head", ("x",), "x", shape, "act_layer"))
    layers += head(c, 5, "classifier", f"nn.Linear({c}, classes)", spec.classes)
    sizes = [f"width {spec.width}"] if spec.width != 64 else []
    if spec.growth_rate != 32:
        sizes.append(f"growth rate {spec.growth_rate}")
    doc = (
        f"{_title(spec)}: stem, dense blocks of {list(DEPTHS[spec.depth])} layers (growth "
        f"{spec.growth_rate}) with transitions, global average pool, classifier ({spec.classes} classes)."
    )
    return classifier_plan(spec, catalog, layers, LAYOUT, _title(spec), doc, tuple(sizes), imports=IMPORTS)


def _stem(spec: Spec, catalog: Catalog) -> list[Layer]:
    """conv0 (7x7, stride 2), norm0, relu0, pool0 (3x3 max pool, stride 2)."""
    c, shape = spec.width, Shape(spec.width, 1)
    conv0 = f"nn.Conv2d(in_channels, {c}, kernel_size=7, stride=2, padding=3, bias=False)"
    pool = "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)"
    return [
        Layer("features.conv0", conv0, "stem", ("x",), "x", shape, "nn.Conv2d 7x7"),
        normed(spec, catalog, "features.norm0", f"norm_layer({c})", "stem", shape, "norm_layer", "the stem"),
        Layer("features.relu0", "act_layer()", "stem", ("x",), "x", shape, "act_layer"),
        Layer("features.pool0", pool, "stem", ("x",), "x", Shape(c, 2), "nn.MaxPool2d"),
    ]


def _blocks(spec: Spec, catalog: Catalog) -> tuple[list[Layer], int]:
    """The dense blocks with a transition after each but the last, and attention after them
    where placed; the channels at the end."""
    placed = placements(spec)
    counts, growth = DEPTHS[spec.depth], spec.growth_rate
    layers: list[Layer] = []
    c = spec.width
    for i, count in enumerate(counts):
        level, stage = 2 + i, f"dense block {i + 1}"
        normalised = [c + j * growth for j in range(count)] + [BN_SIZE * growth]
        parts = Parts().add(check_norm(spec, catalog, normalised, stage))
        args = [str(c), str(count), f"growth_rate={growth}", f"bn_size={BN_SIZE}"]
        attn = parts.attention(catalog, placed, "layer", growth, stage)
        if attn:
            args.append(f"layer_attn=lambda: {attn}")
        c += count * growth
        code, shape = f"DenseBlock({', '.join(args)})", Shape(c, level)
        layers.append(parts.layer(f"features.denseblock{i + 1}", code, stage, shape, f"DenseBlock x{count}"))
        layers += _attention(catalog, placed, "block", f"denseblock{i + 1}_attn", stage, shape)
        if i < len(counts) - 1:
            stage = f"transition {i + 1}"
            parts = Parts().add(check_norm(spec, catalog, [c], stage))
            code, shape = f"Transition({c}, {c // 2})", Shape(c // 2, level + 1)
            c //= 2
            layers.append(parts.layer(f"features.transition{i + 1}", code, stage, shape, "Transition"))
            layers += _attention(catalog, placed, "transition", f"transition{i + 1}_attn", stage, shape)
    return layers, c


def _attention(
    catalog: Catalog, placed: dict[str, Term], position: str, attr: str, stage: str, shape: Shape
) -> list[Layer]:
    """The attention placed at ``position`` as a layer of its own in ``features`` (none if none)."""
    parts = Parts()
    code = parts.attention(catalog, placed, position, shape.channels, stage)
    if not code:
        return []
    return [parts.layer(f"features.{attr}", code, stage, shape, callee(code))]


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
            norm_relu = (
                f'nn.Sequential(OrderedDict([("norm", norm_layer({before.channels})), '
                '("relu", act_layer())]))'
            )
            splits[layer.attr] = [
                (f"{layer.attr}.norm", ".norm", before, ""),
                (f"{layer.attr}.relu", ".relu", before, norm_relu),
                (f"{layer.attr}.conv", ".conv", conv, ""),
                (layer.attr, ".pool", layer.shape, ""),
            ]
    taps = ("features.relu0", *(f"features.transition{i}.relu" for i in (1, 2, 3)), "features.norm5")
    return encoder(full, taps, "DenseNetEncoder", f"{_title(spec)}'s features", splits)


BLUEPRINT = classifier_blueprint(
    name="densenet",
    title="DenseNet",
    help=(
        "DenseNet-BC classifier (Huang et al. 2017) with torchvision's layout and keys; "
        "--depth 121, 169, 201"
    ),
    options=(
        Option("depth", 121, "depth preset: layers per dense block as torchvision", choices=tuple(DEPTHS)),
        Option("width", 64, "channels of the stem conv (torchvision: 64)", 1, 4096),
        Option("growth_rate", 32, "channels each dense layer adds (torchvision: 32)", 1, 1024),
    ),
    positions=POSITIONS,
    default_positions=("block",),
    plan=plan,
    examples=("plugscaffold new d121 --arch densenet", "plugscaffold new d121_se --arch densenet --attn se"),
    presets={f"densenet{d}": {"depth": d} for d in DEPTHS},
    encoder=encoder_stages,
)
