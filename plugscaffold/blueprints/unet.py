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

from .. import expr
from ..catalog import Catalog
from ..errors import PlanError
from ..placement import Leaf, render
from ..plan import Hook, Layer, Need, Plan, Shape, build_attention, hook_code, params_of, place
from ..spec import Spec, make_spec
from . import Blueprint, ByOption, EncoderStages, Option, encoders
from ._classifier import groups

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
    widths = [spec.width * 2**i for i in range(spec.depth + 1)]
    # what the bottleneck (outs[depth]) and decoder block i (outs[i - 1]) make
    outs = [widths[0]] + [w // spec.factor for w in widths[1:]]
    chosen = {slot: params_of(spec, catalog, slot) for slot in catalog.slots if slot != "attn"}
    if spec.encoder != NO_ENCODER:
        # one norm_layer and act_layer hook serves encoder and decoder: unless chosen, the
        # classifier's own (MobileNetV2's ReLU6, EfficientNet's SiLU, ConvNeXt's GELU and LayerNorm)
        enc_spec, _ = _encoder_spec(spec, catalog)
        for slot in ("norm", "act"):
            if spec.choice(slot).text == spec.default(slot):
                chosen[slot] = params_of(enc_spec, catalog, slot)
    optional = {slot for slot, (entry, _) in chosen.items() if entry is None}
    placed = {position: p.expr for p in spec.attn for position in p.positions}
    layers: list[Layer] = []

    def add(
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
        entry, params = chosen[slot]
        put = place(entry, params, where=f"{slot} slot at {stage}", names=names, **channels)
        layers.append(
            Layer(
                attr,
                put.code,
                stage,
                inputs,
                output,
                Shape(put.out_channels, level),
                _label(put.code),
                (entry,),
                needs=inner + put.needs,
            )
        )
        return put.out_channels

    def block(
        attr: str,
        stage: str,
        inputs: tuple[str, ...],
        output: str,
        level: int,
        cin: int,
        cout: int,
        names: dict[str, str] | None = None,
    ) -> int:
        inner: tuple[Need, ...] = ()
        entry, params = chosen["block"]
        env = {**params, "in_channels": cin, "out_channels": cout}
        for a, b in entry.contract.convs:  # the block's 3x3 convolutions (the conv slot) and their norms
            a, b = expr.evaluate(a, env), expr.evaluate(b, env)
            where = f"conv slot at {stage} (a {a} -> {b} conv inside '{entry.name}')"
            inner += place(*chosen["conv"], where=where, in_channels=a, out_channels=b).needs
            inner += place(*chosen["norm"], where=f"norm slot at {stage}", in_channels=b).needs
        return add(
            "block", attr, stage, inputs, output, level, inner, names, in_channels=cin, out_channels=cout
        )

    def attend(
        position: str, attr: str, stage: str, source: str, output: str, level: int, channels: int
    ) -> None:
        node = placed.get(position)
        if node is None:
            return
        where = f"attn at {position} of {stage}"
        c = build_attention(node, catalog, channels, where)
        label = _label(c.code) if isinstance(node, Leaf) else render(node)
        layers.append(
            Layer(
                attr,
                c.code,
                stage,
                (source,),
                output,
                Shape(channels, level),
                label,
                c.entries,
                c.notes,
                c.classes,
                c.needs,
            )
        )

    # An optional stem on the input (e.g. a spatial transformer), keeping its channels. The
    # model's ``in_channels`` argument (default spec.in_channels) feeds the stem and enc1.
    channels, source = spec.in_channels, "x"
    symbol = {"in_channels": "in_channels"}
    if "stem" not in optional:
        names = {**symbol, "out_channels": "in_channels"}
        channels = add(
            "stem", "stem", "stem", ("x",), "x", 0, (), names, in_channels=channels, out_channels=channels
        )

    encoder = None
    if spec.encoder == NO_ENCODER:
        # Encoder: a block per stage, then downsampling; the block doubles the channels.
        for i in range(1, spec.depth + 1):
            stage = f"encoder {i}"
            names = symbol if i == 1 else None
            channels = block(f"enc{i}", stage, (source,), f"e{i}", i - 1, channels, widths[i - 1], names)
            if i > 1:  # the end of milesial's Down module i - 1 (pool, block, this)
                attend("downblock", f"down{i - 1}_block_attn", stage, f"e{i}", f"e{i}", i - 1, channels)
            attend("enc", f"enc{i}_attn", stage, f"e{i}", f"e{i}", i - 1, channels)
            channels = add(
                "down", f"down{i}", stage, (f"e{i}",), "x", i, in_channels=channels, out_channels=channels
            )
            attend("down", f"down{i}_attn", stage, "x", "x", i, channels)
        channels = block("bottleneck", "bottleneck", ("x",), "x", spec.depth, channels, outs[spec.depth])
        attend("downblock", f"down{spec.depth}_block_attn", "bottleneck", "x", "x", spec.depth, channels)
        if "bottleneck" not in optional:  # a context module (ASPP, PPM, ...) after the bottleneck block
            channels = add(
                "bottleneck",
                "context",
                "bottleneck",
                ("x",),
                "x",
                spec.depth,
                in_channels=channels,
                out_channels=channels,
            )
        attend("bottleneck", "bottleneck_attn", "bottleneck", "x", "x", spec.depth, channels)

        # Decoder: upsample, align channels if the fusion needs it, fuse with the skip, block.
        skip_entry, _ = chosen["skip"]
        for i in range(spec.depth, 0, -1):
            stage, skip, level = f"decoder {i}", widths[i - 1], i - 1
            channels = add("up", f"up{i}", stage, ("x",), "x", level, in_channels=channels, out_channels=skip)
            if skip_entry.contract.align == "equal" and channels != skip:
                note = f"1x1 projection: {skip_entry.name} needs equal inputs: upsampled {channels} vs skip {skip}"
                code = f"nn.Conv2d({channels}, {skip}, kernel_size=1)"
                layers.append(
                    Layer(
                        f"align{i}", code, stage, ("x",), "x", Shape(skip, level), "nn.Conv2d", notes=(note,)
                    )
                )
                channels = skip
            skip_var = f"e{i}"
            if "skip" in placed:
                attend("skip", f"skip{i}_attn", stage, f"e{i}", f"s{i}", level, skip)
                skip_var = f"s{i}"
            channels = add(
                "skip",
                f"fuse{i}",
                stage,
                ("x", skip_var),
                "x",
                level,
                in_channels=channels,
                skip_channels=skip,
            )
            channels = block(f"dec{i}", stage, ("x",), "x", level, channels, outs[i - 1])
            attend("dec", f"dec{i}_attn", stage, "x", "x", level, channels)

    else:  # a classifier's stages as the encoder, a decoder as segmentation_models_pytorch's Unet
        encoder, channels = _on_encoder(spec, catalog, chosen, placed, layers, add, block, attend)

    classes = {"out_channels": "classes"}  # the model's ``classes`` argument
    if encoder is not None and spec.choice("head").text == spec.default("head"):
        # segmentation_models_pytorch's SegmentationHead: a 3x3 conv
        code = f"nn.Conv2d({channels}, classes, kernel_size=3, padding=1)"
        layers.append(Layer("head", code, "head", ("x",), "x", Shape(spec.classes, 0), "nn.Conv2d 3x3"))
    else:
        add(
            "head",
            "head",
            "head",
            ("x",),
            "x",
            0,
            (),
            classes,
            in_channels=channels,
            out_channels=spec.classes,
        )
    hooks = tuple(
        Hook(slot.hook, hook_code(*chosen[name]), chosen[name][0])
        for name, slot in catalog.slots.items()
        if slot.hook
    )
    picks = [f"factor {spec.factor}"] if spec.factor != 1 else []
    picks += [f"{c.slot} {c.text}" for c in spec.choices if c.text != spec.default(c.slot)]
    picks += [f"attn {p.text}" for p in spec.attn]
    if encoder is None:
        summary = f"UNet, depth {spec.depth}, width {spec.width}"
        doc = f"UNet: encoder {'-'.join(map(str, widths[:-1]))}, bottleneck {outs[-1]}, " + (
            "mirrored decoder with skips."
            if spec.factor == 1
            else f"decoder {'-'.join(map(str, outs[-2::-1]))} with skips."
        )
        extra, helpers, divisor = {}, ("pad_to_multiple",), 2**spec.depth
    else:
        summary = f"UNet on a {spec.encoder} encoder, depth {spec.depth}, decoder width {spec.width}"
        doc = (
            f"UNet: {encoder.doc} as the encoder (torchvision's keys under encoder.), a decoder "
            f"{'-'.join(str(spec.width * 2**level) for level in range(spec.depth - 1, -1, -1))} with skips."
        )
        taps = ", ".join(f"f{k}" for k in range(1, len(encoder.taps) + 1))
        extra = {
            "encoder": encoder,
            "encoder_taps": taps,
            "block": encoder.extra.get("block"),
            "imports": encoder.extra.get("imports", ()),
        }
        helpers, divisor = ("pad_to_multiple", *encoder.helpers), 2**spec.depth
    return Plan(
        spec=spec,
        class_name="UNet",
        summary=summary + (f"; {', '.join(picks)}" if picks else ""),
        doc=doc,
        layers=tuple(layers),
        hooks=hooks,
        helpers=helpers,
        input=Shape(spec.in_channels, 0),
        divisor=divisor,
        result="x",
        extra=extra,
    )


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


def _on_encoder(spec, catalog, chosen, placed, layers, add, block, attend) -> tuple[EncoderStages, int]:
    """Encoder layers from the classifier blueprint, then decoder stages as smp's UnetDecoder:
    up (channels kept), concatenation with the encoder feature of that level, a block of
    ``width * 2**level`` channels; the last stage upsamples to the input size without a skip."""
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
            f"--attn at {', '.join(mine)} needs the UNet's own encoder; with --encoder use dec, skip or bottleneck",
            slot="attn",
        )
    _, encoder = _encoder_spec(spec, catalog)
    # --depth D: the decoder reads the features down to 1 / 2**D (stride 2 .. 32 as smp's)
    levels = [shape.level for _, shape in encoder.taps]
    if spec.depth not in levels:
        strides = ", ".join(f"1/{2**level}" for level in levels)
        raise PlanError(
            f"--depth {spec.depth} needs encoder features at 1/{2**spec.depth}; {spec.encoder} has {len(levels)}, "
            f"at {strides}: use --depth {min(levels)} to {max(levels)}"
        )
    taps = tuple(tap for tap in encoder.taps if tap[1].level <= spec.depth)
    # the encoder ends with the deepest stage the decoder reads (a shallower --depth drops the rest)
    if encoder.steps:
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
        encoder = dataclasses.replace(encoder, layers=kept, taps=taps, steps=steps, extra=extra)
    else:
        last = [layer.attr for layer in encoder.layers].index(taps[-1][0])
        encoder = dataclasses.replace(encoder, layers=encoder.layers[: last + 1], taps=taps)
    kept = [f"f{k}" for k in range(1, len(taps))] + ["x"]
    deepest = taps[-1][1]
    layers.append(
        Layer(
            "encoder",
            f"{encoder.class_name}(in_channels)",
            "encoder",
            ("x",),
            ", ".join(kept),
            deepest,
            encoder.class_name,
            taps=tuple((name, shape) for name, (_, shape) in zip(kept, taps)),
        )
    )
    channels, bottom = deepest.channels, deepest.level
    if chosen["bottleneck"][0] is not None:  # a context module (ASPP, PPM, ...) on the deepest features
        channels = add(
            "bottleneck",
            "context",
            "bottleneck",
            ("x",),
            "x",
            bottom,
            in_channels=channels,
            out_channels=channels,
        )
    attend("bottleneck", "bottleneck_attn", "bottleneck", "x", "x", bottom, channels)
    skips = {shape.level: (name, shape.channels) for name, (_, shape) in zip(kept, taps[:-1])}
    for level in range(bottom - 1, -1, -1):
        i, stage = level + 1, f"decoder {level + 1}"
        channels = add("up", f"up{i}", stage, ("x",), "x", level, in_channels=channels, out_channels=channels)
        if level in skips:
            var, skip = skips[level]
            if chosen["skip"][0].contract.align == "equal" and channels != skip:
                note = f"1x1 projection: {chosen['skip'][0].name} needs equal inputs: upsampled {channels} vs skip {skip}"
                code = f"nn.Conv2d({channels}, {skip}, kernel_size=1)"
                layers.append(
                    Layer(
                        f"align{i}", code, stage, ("x",), "x", Shape(skip, level), "nn.Conv2d", notes=(note,)
                    )
                )
                channels = skip
            if "skip" in placed:
                attend("skip", f"skip{i}_attn", stage, var, f"s{i}", level, skip)
                var = f"s{i}"
            channels = add(
                "skip", f"fuse{i}", stage, ("x", var), "x", level, in_channels=channels, skip_channels=skip
            )
        channels = block(f"dec{i}", stage, ("x",), "x", level, channels, spec.width * 2**level)
        attend("dec", f"dec{i}_attn", stage, "x", "x", level, channels)
    return encoder, channels


def _label(code: str) -> str:
    return code.split("(", 1)[0]


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
            "a classifier preset as the encoder, as segmentation_models_pytorch's Unet (none: the UNet's own)",
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
