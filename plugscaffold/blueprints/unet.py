"""The UNet blueprint (Ronneberger et al. 2015, laid out as milesial/Pytorch-UNet).

encoder: [stem] -> enc1 -> down1 -> enc2 -> ... -> down{D} -> bottleneck -> [context]
decoder: up{i} -> [align{i}] -> fuse{i}(x, e{i}) -> dec{i}, for i = D .. 1; then head.
Stage i works at 1 / 2**(i-1) of the input size with ``width * 2**(i-1)`` channels. With
``--factor 2`` the bottleneck block and decoder blocks i > 1 make half that (milesial's
bilinear UNet: each block before an upsampling already has the width of the skip it meets).
Attention placements (``--attn EXPR@POSITION``) add ``enc{i}_attn``, ``bottleneck_attn``,
``dec{i}_attn``, ``down{i}_attn``, ``down{i}_block_attn`` and ``skip{i}_attn`` layers.
"""

from __future__ import annotations

import dataclasses

from ..catalog import Catalog
from ..errors import PlanError
from ..placement import Leaf, render
from ..plan import (
    Hook,
    Layer,
    Need,
    Plan,
    Shape,
    build_attention,
    callee,
    hook_code,
    inner_conv_needs,
    params_of,
    place,
)
from ..spec import Spec, make_spec
from . import Blueprint, ByOption, EncoderStages, Option, encoders
from ._classifier import groups, picks, placements

NO_ENCODER = "none"
#: the UNet's slots that a classifier encoder takes when they are chosen
SHARED = ("conv", "norm", "act")

POSITIONS = {
    "enc": "after every encoder block",
    "bottleneck": "after the bottleneck block",
    "dec": "after every decoder block",
    "down": "after every downsampling",
    "skip": "on every skip tensor, before its fusion",
    "downblock": "after the block that follows every downsampling, the bottleneck's included "
    "(milesial's Down module: pool, double conv, then this; seed 001's placement)",
}


def plan(spec: Spec, catalog: Catalog) -> Plan:
    """[stem], then the UNet's own encoder and mirrored decoder, or a classifier's stages as the
    encoder and smp's decoder; then the head."""
    p = _Planner(spec, catalog)
    channels = p.stem()
    if p.classifier is None:
        encoder = None
        channels = _own_decoder(p, _own_encoder(p, channels))
    else:
        encoder, channels = _on_encoder(p, p.classifier)
    _head(p, channels, encoder)
    return _plan(p, encoder)


class _Planner:
    """The UNet's layers as planned so far, and the steps that add them: each places a slot's
    module (checking its contract) and appends the Layer."""

    def __init__(self, spec: Spec, catalog: Catalog) -> None:
        self.spec, self.catalog = spec, catalog
        self.chosen, self.classifier = _choices(spec, catalog)
        self.placed = placements(spec)
        self.layers: list[Layer] = []

    def add(
        self,
        slot: str,
        attr: str,
        stage: str,
        inputs: tuple[str, ...],
        output: str,
        level: int,
        inner: tuple[Need, ...] = (),
        names: dict[str, str] | None = None,
        **channels: int,
    ) -> int:
        """``slot``'s module as layer ``attr``; its output channels."""
        entry, params = self.chosen[slot]
        put = place(entry, params, where=f"{slot} slot at {stage}", names=names, **channels)
        shape = Shape(put.out_channels, level)
        needs = inner + put.needs
        self.layers.append(
            Layer(attr, put.code, stage, inputs, output, shape, callee(put.code), (entry,), needs=needs)
        )
        return put.out_channels

    def block(
        self,
        attr: str,
        stage: str,
        inputs: tuple[str, ...],
        output: str,
        level: int,
        cin: int,
        cout: int,
        names: dict[str, str] | None = None,
    ) -> int:
        """The block slot's module, its 3x3 convs checked against the conv and norm slots."""
        chosen = self.chosen
        inner = inner_conv_needs(chosen["block"], chosen["conv"], chosen["norm"], cin, cout, stage)
        return self.add(
            "block", attr, stage, inputs, output, level, inner, names, in_channels=cin, out_channels=cout
        )

    def attend(
        self, position: str, attr: str, stage: str, source: str, output: str, level: int, channels: int
    ) -> None:
        """The attention placed at ``position`` (if any) on ``source``."""
        node = self.placed.get(position)
        if node is None:
            return
        c = build_attention(node, self.catalog, channels, f"attn at {position} of {stage}")
        label = callee(c.code) if isinstance(node, Leaf) else render(node)
        shape = Shape(channels, level)
        self.layers.append(
            Layer(
                attr, c.code, stage, (source,), output, shape, label, c.entries, c.notes, c.classes, c.needs
            )
        )

    def stem(self) -> int:
        """An optional stem on the input (e.g. a spatial transformer), keeping its channels. The
        model's ``in_channels`` argument (default spec.in_channels) feeds the stem and enc1."""
        channels = self.spec.in_channels
        if self.chosen["stem"][0] is None:
            return channels
        names = {"in_channels": "in_channels", "out_channels": "in_channels"}
        return self.add(
            "stem", "stem", "stem", ("x",), "x", 0, (), names, in_channels=channels, out_channels=channels
        )

    def context(self, level: int, channels: int) -> int:
        """A context module (ASPP, PPM, ...) after the bottleneck, if chosen; then the attention
        at 'bottleneck'."""
        if self.chosen["bottleneck"][0] is not None:
            channels = self.add(
                "bottleneck",
                "context",
                "bottleneck",
                ("x",),
                "x",
                level,
                in_channels=channels,
                out_channels=channels,
            )
        self.attend("bottleneck", "bottleneck_attn", "bottleneck", "x", "x", level, channels)
        return channels

    def decoder_stage(
        self, i: int, level: int, channels: int, up: int, skip: tuple[str, int] | None, out: int
    ) -> int:
        """up{i} to ``up`` channels, the fusion with ``skip`` (its variable and channels; None:
        no skip), then dec{i}, a block of ``out`` channels, and the attention at 'dec'."""
        stage = f"decoder {i}"
        channels = self.add("up", f"up{i}", stage, ("x",), "x", level, in_channels=channels, out_channels=up)
        if skip is not None:
            channels = self.fuse(i, stage, level, channels, *skip)
        channels = self.block(f"dec{i}", stage, ("x",), "x", level, channels, out)
        self.attend("dec", f"dec{i}_attn", stage, "x", "x", level, channels)
        return channels

    def fuse(self, i: int, stage: str, level: int, channels: int, var: str, skip: int) -> int:
        """fuse{i} of x with the skip tensor ``var`` of ``skip`` channels: first a 1x1 align{i}
        if the fusion needs equal inputs, and the attention at 'skip' on the skip tensor."""
        entry, _ = self.chosen["skip"]
        if entry.contract.align == "equal" and channels != skip:
            note = f"1x1 projection: {entry.name} needs equal inputs: upsampled {channels} vs skip {skip}"
            code = f"nn.Conv2d({channels}, {skip}, kernel_size=1)"
            self.layers.append(
                Layer(f"align{i}", code, stage, ("x",), "x", Shape(skip, level), "nn.Conv2d", notes=(note,))
            )
            channels = skip
        if "skip" in self.placed:
            self.attend("skip", f"skip{i}_attn", stage, var, f"s{i}", level, skip)
            var = f"s{i}"
        return self.add(
            "skip", f"fuse{i}", stage, ("x", var), "x", level, in_channels=channels, skip_channels=skip
        )


def _choices(spec: Spec, catalog: Catalog) -> tuple[dict, EncoderStages | None]:
    """Each slot's (entry, params), and with --encoder the classifier's stages. One norm_layer
    and act_layer hook serves encoder and decoder: unless chosen, the classifier's own
    (MobileNetV2's ReLU6, EfficientNet's SiLU, ConvNeXt's GELU and LayerNorm)."""
    chosen = {slot: params_of(spec, catalog, slot) for slot in catalog.slots if slot != "attn"}
    if spec.encoder == NO_ENCODER:
        return chosen, None
    enc_spec, classifier = _encoder_spec(spec, catalog)
    for slot in ("norm", "act"):
        if spec.choice(slot).text == spec.default(slot):
            chosen[slot] = params_of(enc_spec, catalog, slot)
    return chosen, classifier


def _widths(spec: Spec) -> tuple[list[int], list[int]]:
    """The channels of stage i's encoder block (``widths[i - 1]``), and what the bottleneck
    (``outs[depth]``) and decoder block i (``outs[i - 1]``) make."""
    widths = [spec.width * 2**i for i in range(spec.depth + 1)]
    return widths, [widths[0]] + [w // spec.factor for w in widths[1:]]


def _own_encoder(p: _Planner, channels: int) -> int:
    """A block per stage (doubling the channels), then downsampling; then the bottleneck block
    and its context module."""
    spec = p.spec
    widths, outs = _widths(spec)
    for i in range(1, spec.depth + 1):
        stage, level = f"encoder {i}", i - 1
        names = {"in_channels": "in_channels"} if i == 1 else None
        channels = p.block(f"enc{i}", stage, ("x",), f"e{i}", level, channels, widths[i - 1], names)
        if i > 1:  # the end of milesial's Down module i - 1 (pool, block, this)
            p.attend("downblock", f"down{i - 1}_block_attn", stage, f"e{i}", f"e{i}", level, channels)
        p.attend("enc", f"enc{i}_attn", stage, f"e{i}", f"e{i}", level, channels)
        channels = p.add(
            "down", f"down{i}", stage, (f"e{i}",), "x", i, in_channels=channels, out_channels=channels
        )
        p.attend("down", f"down{i}_attn", stage, "x", "x", i, channels)
    channels = p.block("bottleneck", "bottleneck", ("x",), "x", spec.depth, channels, outs[spec.depth])
    p.attend("downblock", f"down{spec.depth}_block_attn", "bottleneck", "x", "x", spec.depth, channels)
    return p.context(spec.depth, channels)


def _own_decoder(p: _Planner, channels: int) -> int:
    """Per stage: upsample to the skip's channels, align them if the fusion needs it, fuse
    with the encoder's e{i}, block."""
    widths, outs = _widths(p.spec)
    for i in range(p.spec.depth, 0, -1):
        skip = widths[i - 1]
        channels = p.decoder_stage(i, i - 1, channels, skip, (f"e{i}", skip), outs[i - 1])
    return channels


def _encoder_spec(spec: Spec, catalog: Catalog) -> tuple[Spec, EncoderStages]:
    """The classifier preset named by ``--encoder``, with this UNet's conv, norm and act."""
    blueprint, options = encoders()[spec.encoder]
    # the UNet's conv, norm and act when chosen; else the classifier's own (ReLU6, SiLU, GELU, ...)
    shared = {
        slot: spec.choice(slot).text
        for slot in SHARED
        if slot in blueprint.slots and spec.choice(slot).text != spec.default(slot)
    }
    enc_spec = make_spec(
        catalog, spec.name, {"arch": blueprint.name, **options, **shared, "in_channels": spec.in_channels}
    )
    return enc_spec, blueprint.encoder(enc_spec, catalog)


def _on_encoder(p: _Planner, classifier: EncoderStages) -> tuple[EncoderStages, int]:
    """Encoder layers from the classifier blueprint, then decoder stages as smp's UnetDecoder:
    up (channels kept), concatenation with the encoder feature of that level, a block of
    ``width * 2**level`` channels; the last stage upsamples to the input size without a skip."""
    spec = p.spec
    _check_encoder_options(spec, p.placed)
    encoder = _cut_encoder(spec, classifier)
    kept = [f"f{k}" for k in range(1, len(encoder.taps))] + ["x"]
    deepest = encoder.taps[-1][1]
    p.layers.append(
        Layer(
            "encoder",
            f"{encoder.class_name}(in_channels)",
            "encoder",
            ("x",),
            ", ".join(kept),
            deepest,
            encoder.class_name,
            taps=tuple((name, shape) for name, (_, shape) in zip(kept, encoder.taps)),
        )
    )
    channels = p.context(deepest.level, deepest.channels)
    skips = {shape.level: (name, shape.channels) for name, (_, shape) in zip(kept, encoder.taps[:-1])}
    for level in range(deepest.level - 1, -1, -1):
        out = spec.width * 2**level
        channels = p.decoder_stage(level + 1, level, channels, channels, skips.get(level), out)
    return encoder, channels


def _check_encoder_options(spec: Spec, placed: dict) -> None:
    """The options that belong to the UNet's own encoder are left out with --encoder."""
    for slot in ("down",):
        if spec.choice(slot).text != spec.default(slot):
            raise PlanError(
                f"--{slot} is the encoder's with --encoder {spec.encoder}; leave it out", slot=slot
            )
    if spec.factor != 1:
        raise PlanError(f"--factor is for the UNet's own encoder; leave it out with --encoder {spec.encoder}")
    mine = sorted(set(placed) & {"enc", "down", "downblock"})
    if mine:
        raise PlanError(
            f"--attn at {', '.join(mine)} needs the UNet's own encoder; with --encoder use dec, skip or "
            "bottleneck",
            slot="attn",
        )


def _cut_encoder(spec: Spec, encoder: EncoderStages) -> EncoderStages:
    """--depth D: the decoder reads the features down to 1 / 2**D (stride 2 .. 32 as smp's), and
    the encoder ends with the deepest stage it reads (a shallower --depth drops the rest)."""
    levels = [shape.level for _, shape in encoder.taps]
    if spec.depth not in levels:
        strides = ", ".join(f"1/{2**level}" for level in levels)
        raise PlanError(
            f"--depth {spec.depth} needs encoder features at 1/{2**spec.depth}; {spec.encoder} has "
            f"{len(levels)}, at {strides}: use --depth {min(levels)} to {max(levels)}"
        )
    taps = tuple(tap for tap in encoder.taps if tap[1].level <= spec.depth)
    if not encoder.steps:
        last = [layer.attr for layer in encoder.layers].index(taps[-1][0])
        return dataclasses.replace(encoder, layers=encoder.layers[: last + 1], taps=taps)
    keys = [step[0] for step in encoder.steps]
    steps = encoder.steps[: keys.index(taps[-1][0]) + 1]
    used = {step[1] for step in steps}
    kept = tuple(layer for layer in encoder.layers if layer.attr in used)
    key, attr, _, shape, cut = steps[-1]
    if key != attr:  # the deepest tap is inside a layer: it keeps the modules that run
        if not cut:
            raise PlanError(f"--depth {spec.depth}: {spec.encoder}'s {attr} cannot end at {key}")
        kept = tuple(dataclasses.replace(x, code=cut, shape=shape) if x.attr == attr else x for x in kept)
    extra = {**encoder.extra, "groups": groups(list(kept))}
    return dataclasses.replace(encoder, layers=kept, taps=taps, steps=steps, extra=extra)


def _head(p: _Planner, channels: int, encoder: EncoderStages | None) -> None:
    """The head slot's module to the model's ``classes``; on a classifier encoder by default
    segmentation_models_pytorch's SegmentationHead, a 3x3 conv."""
    spec = p.spec
    if encoder is not None and spec.choice("head").text == spec.default("head"):
        code = f"nn.Conv2d({channels}, classes, kernel_size=3, padding=1)"
        p.layers.append(Layer("head", code, "head", ("x",), "x", Shape(spec.classes, 0), "nn.Conv2d 3x3"))
        return
    names = {"out_channels": "classes"}  # the model's ``classes`` argument
    p.add("head", "head", "head", ("x",), "x", 0, (), names, in_channels=channels, out_channels=spec.classes)


def _plan(p: _Planner, encoder: EncoderStages | None) -> Plan:
    """The Plan of the planned layers: summary, docstring, hooks and the template's data."""
    spec, chosen = p.spec, p.chosen
    hooks = tuple(
        Hook(slot.hook, hook_code(*chosen[name]), chosen[name][0])
        for name, slot in p.catalog.slots.items()
        if slot.hook
    )
    chosen_text = ([f"factor {spec.factor}"] if spec.factor != 1 else []) + picks(spec)
    if encoder is None:
        summary = f"UNet, depth {spec.depth}, width {spec.width}"
        extra, helpers = {}, ("pad_to_multiple",)
    else:
        summary = f"UNet on a {spec.encoder} encoder, depth {spec.depth}, decoder width {spec.width}"
        taps = ", ".join(f"f{k}" for k in range(1, len(encoder.taps) + 1))
        extra = {
            "encoder": encoder,
            "encoder_taps": taps,
            "block": encoder.extra.get("block"),
            "imports": encoder.extra.get("imports", ()),
        }
        helpers = ("pad_to_multiple", *encoder.helpers)
    return Plan(
        spec=spec,
        class_name="UNet",
        summary=summary + (f"; {', '.join(chosen_text)}" if chosen_text else ""),
        doc=_doc(spec, encoder),
        layers=tuple(p.layers),
        hooks=hooks,
        helpers=helpers,
        input=Shape(spec.in_channels, 0),
        divisor=2**spec.depth,
        result="x",
        extra=extra,
    )


def _doc(spec: Spec, encoder: EncoderStages | None) -> str:
    """The model's docstring: its stages' channels."""
    if encoder is not None:
        decoder = "-".join(str(spec.width * 2**level) for level in range(spec.depth - 1, -1, -1))
        return (
            f"UNet: {encoder.doc} as the encoder (torchvision's keys under encoder.), a decoder "
            f"{decoder} with skips."
        )
    widths, outs = _widths(spec)
    return f"UNet: encoder {'-'.join(map(str, widths[:-1]))}, bottleneck {outs[-1]}, " + (
        "mirrored decoder with skips."
        if spec.factor == 1
        else f"decoder {'-'.join(map(str, outs[-2::-1]))} with skips."
    )


BLUEPRINT = Blueprint(
    name="unet",
    title="UNet",
    help="U-Net for segmentation: encoder, bottleneck, mirrored decoder with skips (Ronneberger et al. 2015)",
    task="segmentation",
    output="mask",
    options=(
        Option("in_channels", 3, "input channels", 1, 4096),
        Option("classes", 2, "output channels (classes)", 1, 4096),
        Option(
            "encoder",
            NO_ENCODER,
            "a classifier preset as the encoder, as segmentation_models_pytorch's Unet "
            "(none: the UNet's own)",
            choices=lambda: (NO_ENCODER, *encoders()),
            kind=str,
        ),
        Option(
            "depth",
            ByOption("encoder", {NO_ENCODER: 4}, otherwise=5),
            "encoder stages (default 4); with --encoder, the features read down to 1/2**depth (default 5)",
            1,
            6,
        ),
        Option(
            "width",
            ByOption("encoder", {NO_ENCODER: 64}, otherwise=16),
            "channels of the first stage (default 64; with --encoder the last decoder stage's, 16)",
            1,
            4096,
        ),
        # 2: bottleneck and decoder blocks at half width, as milesial/Pytorch-UNet builds its
        # bilinear UNet (factor = 2 if bilinear else 1)
        Option(
            "factor",
            1,
            "2: bottleneck and decoder blocks at half width (milesial's bilinear UNet); 1: classic",
            choices=(1, 2),
            baseline=False,
        ),
    ),
    slots=("down", "up", "skip", "attn", "conv", "block", "bottleneck", "stem", "norm", "act", "head"),
    # with --encoder, smp's decoder upsampling: nearest interpolation, channels kept
    slot_defaults={
        "up": ByOption("encoder", {NO_ENCODER: "convtranspose"}, otherwise="nearest:kernel_size=0")
    },
    positions=POSITIONS,
    default_positions=("enc", "bottleneck", "dec"),
    plan=plan,
    diagram="u",
    is_default=True,
    examples=(
        "plugscaffold new my_unet --down hwd --up dysample --skip eff",
        "plugscaffold new my_unet --up dysample:style=pl,groups=8 --attn cbam:reduction=8",
        "plugscaffold new my_unet --conv dsconv --attn msca@down --attn se+cbam^@dec",
        "plugscaffold new my_unet --width 32 --depth 3 --size 96x128 --stdout",
    ),
)
