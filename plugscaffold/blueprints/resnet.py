"""The ResNet blueprint (He et al. 2016), laid out as torchvision's ``models/resnet.py``.

stem: [stem module] -> conv1 -> bn1 -> relu -> maxpool (conv1 is three 3x3 convs with
``--stem-type deep``, ResNet-C); stages ``layer1`` .. ``layer4`` of residual blocks (stage
i has ``width * 2**(i-1)`` planes; stages 2-4 start with a stride-2 block); then avgpool,
flatten and the ``fc`` classifier. Module names and state_dict keys are torchvision's, so
its checkpoints load with ``strict=True`` (ResNeXt and Wide ResNet via ``--groups`` and
``--width-per-group``, as torchvision spells them).

The residual blocks (``--block residual`` = BasicBlock, ``--block bottleneck``) are written
into model.py by the template with the attention this model uses as named submodules:
``--attn EXPR@POSITION`` at ``conv1`` / ``conv2`` (after that conv's norm and activation),
``branch`` (the residual branch before the add: the SE paper's position, named after the
module as timm, Jongchan/attention-module and BangguWu/ECANet name theirs: ``se``,
``cbam``, ``eca``) and ``block`` (after the block). Any other catalog block makes plain
stages: a ``--down`` module, then blocks of the stage's width, attention after each block.

``--down`` makes the stride-2 transitions. ``conv`` (default) strides the 3x3 conv and the
1x1 projection shortcut (torchvision). ``avgpool`` is ResNet-D (Bag of Tricks, He et al.
2019): the 3x3 conv keeps its stride, the shortcut average-pools before a stride-1
projection (timm's ``avg_down`` keys). Any other module replaces the stride in both paths:
after the strided conv's activation (antialiased-cnns' placement of BlurPool) and before the
projection on the shortcut.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass

from .. import expr
from ..catalog import Catalog, Entry
from ..errors import PlanError
from ..placement import Leaf, Term
from ..plan import Hook, Layer, Need, Plan, Shape, build_attention, hook_code, params_of, place
from ..spec import Spec
from . import Blueprint, ByOption, EncoderStages, Option

#: blocks per stage, per depth preset (torchvision)
LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
#: the catalog's ResNet blocks, written as model.py's own BasicBlock / Bottleneck classes
NATIVE = {"residual": "basic", "bottleneck": "bottleneck"}
EXPANSION = {"basic": 1, "bottleneck": 4}
#: --down choices that go on the shortcut only; the 3x3 conv keeps the stride (ResNet-D)
SHORTCUT_ONLY = ("avgpool",)
#: the default --down: torchvision's strided 3x3 conv and strided 1x1 projection
STRIDED = "conv"
#: why a --down module other than the strided conv needs a 2x2 map (a stage's input can be 1x1:
#: the ResNet does not pad its input)
HALVING = "it halves H and W with a 2x2 window at least"

POSITIONS = {
    "conv1": "after the first conv of every block (after its norm and activation)",
    "conv2": "after the 3x3 conv of every bottleneck block (after its norm and activation)",
    "branch": "on the residual branch before the add (after the last norm): the SE paper's position",
    "block": "after every block (after the add and activation)",
}
#: attribute names in the block for attention at each position (branch: the module's own name)
ATTRS = {"conv1": "attn1", "conv2": "attn2", "block": "attn_out"}

PRESETS = {
    "resnet18": {"depth": 18},
    "resnet34": {"depth": 34},
    "resnet50": {"depth": 50},
    "resnet101": {"depth": 101},
    "resnet152": {"depth": 152},
    "resnext50_32x4d": {"depth": 50, "groups": 32, "width_per_group": 4},
    "resnext101_32x8d": {"depth": 101, "groups": 32, "width_per_group": 8},
    "resnext101_64x4d": {"depth": 101, "groups": 64, "width_per_group": 4},
    "wide_resnet50_2": {"depth": 50, "width_per_group": 128},
    "wide_resnet101_2": {"depth": 101, "width_per_group": 128},
}


@dataclass(frozen=True)
class BlockClass:
    """What the template writes as model.py's own residual block class."""

    name: str  # BasicBlock or Bottleneck
    kind: str  # basic or bottleneck
    doc: str
    attn: tuple[tuple[str, str], ...]  # (position, attribute), in forward order
    down: str  # "" (stride on the conv), "main" (a down module after the strided conv's act)
    hook_conv: bool  # the 3x3 convs at stride 1 are the conv3x3 hook (a non-default --conv)


@dataclass(frozen=True)
class Stages:
    """The planned body of a ResNet: stem and stage layers, channels, and the block class."""

    layers: list[Layer]
    block: BlockClass | None
    channels: int
    taps: list[tuple[str, Shape]]  # (attr, output shape) of the stem and every stage


def _stages(spec: Spec, catalog: Catalog, prefix_stage: str = "") -> Stages:
    """The stem and layer1..layer4 of ``spec`` (shared by the classifier and UNet encoders)."""
    chosen = {slot: params_of(spec, catalog, slot) for slot in BLUEPRINT.slots if slot != "attn"}
    placed = {position: p.expr for p in spec.attn for position in p.positions}
    block_entry, _ = chosen["block"]
    kind = NATIVE.get(block_entry.name)
    down_entry, _ = chosen["down"]
    conv_entry, _ = chosen["conv"]
    default_conv = conv_entry.name == catalog.slots["conv"].default
    layers: list[Layer] = []
    taps: list[tuple[str, Shape]] = []

    if kind is None:
        native_only = sorted(set(placed) - {"block"})
        if native_only:
            raise PlanError(
                f"--attn at {', '.join(native_only)} needs a residual block (--block residual or bottleneck); "
                f"'{block_entry.name}' blocks take attention at 'block'",
                slot="attn",
            )
    elif kind == "basic":
        if "conv2" in placed:
            raise PlanError(
                "--attn at conv2 needs bottleneck blocks (a basic block has conv1 and conv2, the last before "
                "the add: use 'branch' there)",
                slot="attn",
            )
        if spec.groups != 1 or spec.width_per_group != 64:
            raise PlanError(
                f"basic blocks take --groups 1 and --width-per-group 64 (torchvision's BasicBlock), got "
                f"{spec.groups} and {spec.width_per_group}; use --depth 50 or more, or --block bottleneck",
                slot="block",
            )
    if kind is not None and not default_conv and spec.groups != 1:
        raise PlanError(
            f"--conv {conv_entry.name} has no groups; --groups {spec.groups} (ResNeXt) needs --conv conv",
            slot="conv",
        )

    # --- the stem --------------------------------------------------------------------------
    # the model's ``in_channels`` argument (default spec.in_channels) feeds the stem
    channels, symbol = spec.in_channels, "in_channels"
    stem_entry, stem_params = chosen["stem"]
    if stem_entry is not None:  # a module on the input (e.g. a spatial transformer)
        names = {"in_channels": symbol, "out_channels": symbol}
        put = place(
            stem_entry,
            stem_params,
            where="stem slot",
            in_channels=channels,
            out_channels=channels,
            names=names,
        )
        layers.append(
            Layer(
                "stem",
                put.code,
                "stem",
                ("x",),
                "x",
                Shape(channels, 0),
                _label(put.code),
                (stem_entry,),
                needs=put.needs,
            )
        )
    stem = f"{prefix_stage}stem"
    width = spec.width
    if spec.stem_type == "deep":
        half = max(width // 2, 1)
        code = (
            f"nn.Sequential(nn.Conv2d({symbol}, {half}, kernel_size=3, stride=2, padding=1, bias=False), "
            f"norm_layer({half}), act_layer(), "
            f"nn.Conv2d({half}, {half}, kernel_size=3, padding=1, bias=False), norm_layer({half}), act_layer(), "
            f"nn.Conv2d({half}, {width}, kernel_size=3, padding=1, bias=False))"
        )
        label = "deep stem (3x 3x3 conv)"
    else:
        code = f"nn.Conv2d({symbol}, {width}, kernel_size=7, stride=2, padding=3, bias=False)"
        label = "nn.Conv2d 7x7"
    layers.append(Layer("conv1", code, stem, ("x",), "x", Shape(width, 1), label))
    layers.append(Layer("bn1", f"norm_layer({width})", stem, ("x",), "x", Shape(width, 1), "norm_layer"))
    layers.append(Layer("relu", "act_layer()", stem, ("x",), "x", Shape(width, 1), "act_layer"))
    taps.append(("relu", Shape(width, 1)))
    layers.append(
        Layer(
            "maxpool",
            "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)",
            stem,
            ("x",),
            "x",
            Shape(width, 2),
            "nn.MaxPool2d",
        )
    )
    channels = width

    # --- the stages --------------------------------------------------------------------------
    counts = LAYERS[spec.depth]
    expansion = EXPANSION.get(kind, 1)
    attrs = _attn_attrs(placed)
    for i, count in enumerate(counts):
        planes = width * 2**i
        out = planes * expansion
        level = 2 + i  # stage 1 at 1/4 of the input, each later stage halves
        stride = 1 if i == 0 else 2
        stage = f"{prefix_stage}stage {i + 1}"
        if kind is None:
            layer = _plain_stage(spec, catalog, chosen, placed, i, count, channels, out, level, stage)
        else:
            layer = _native_stage(
                spec,
                catalog,
                chosen,
                placed,
                attrs,
                kind,
                i,
                count,
                channels,
                planes,
                out,
                stride,
                level,
                stage,
            )
        layers.append(layer)
        taps.append((layer.attr, layer.shape))
        channels = out

    block = None
    if kind is not None:
        order = [p for p in ("conv1", "conv2", "branch", "block") if p in placed]
        name = "BasicBlock" if kind == "basic" else "Bottleneck"
        down = "" if down_entry.name == STRIDED or down_entry.name in SHORTCUT_ONLY else "main"
        block = BlockClass(
            name=name,
            kind=kind,
            doc=_block_doc(kind, [(p, attrs[p]) for p in order], down, down_entry),
            attn=tuple((p, attrs[p]) for p in order),
            down=down,
            hook_conv=not default_conv,
        )
    return Stages(layers, block, channels, taps)


def _attn_attrs(placed: dict[str, Term]) -> dict[str, str]:
    attrs = dict(ATTRS)
    node = placed.get("branch")
    if node is not None:
        attrs["branch"] = (
            (f"{node.name}_" if keyword.iskeyword(node.name) else node.name)
            if isinstance(node, Leaf)
            else "attn"
        )
    return attrs


def _block_doc(kind: str, attn: list[tuple[str, str]], down: str, down_entry: Entry) -> str:
    names = dict(attn)

    def then(position: str) -> str:
        return f" -> {names[position]}" if position in names else ""

    d = f" -> {down_entry.name} (stride 2)" if down else ""
    strided = "" if down else "stride, "
    if kind == "basic":
        chain = (
            f"3x3 conv{'' if down else ' (stride)'} -> norm -> act{d}{then('conv1')} -> 3x3 conv -> norm{then('branch')} "
            f"-> + shortcut -> act{then('block')}"
        )
    else:
        chain = (
            f"1x1 conv -> norm -> act{then('conv1')} -> 3x3 conv ({strided}groups) -> norm -> act{d}"
            f"{then('conv2')} -> 1x1 conv -> norm{then('branch')} -> + shortcut -> act{then('block')}"
        )
    return chain


def _attention(
    catalog: Catalog, placed: dict[str, Term], position: str, channels: int, where: str
) -> tuple[str, tuple[Entry, ...], tuple[str, ...], tuple[str, ...], tuple[Need, ...]]:
    node = placed[position]
    c = build_attention(node, catalog, channels, f"attn at {position} of {where}")
    return c.code, c.entries, c.classes, c.notes, c.needs


def _shortcut(
    catalog: Catalog, down: tuple[Entry, dict], norm_code: str, cin: int, out: int, stride: int, where: str
) -> tuple[str, tuple[Entry, ...], tuple[Need, ...]]:
    """torchvision's projection shortcut (``downsample``), with the --down choice."""
    entry, params = down
    proj = f"nn.Conv2d({cin}, {out}, kernel_size=1, bias=False)"
    if stride == 1:
        if entry.name in SHORTCUT_ONLY:  # timm's avg_down keys: downsample.1 / .2 (.0 an identity)
            return f"nn.Sequential(nn.Identity(), {proj}, {norm_code})", (), ()
        return f"nn.Sequential({proj}, {norm_code})", (), ()
    if entry.name == STRIDED:
        strided = f"nn.Conv2d({cin}, {out}, kernel_size=1, stride=2, bias=False)"
        return f"nn.Sequential({strided}, {norm_code})", (), ()
    put = place(
        entry, params, where=f"down slot at the shortcut of {where}", in_channels=cin, out_channels=cin
    )
    if put.out_channels != cin:
        proj = f"nn.Conv2d({put.out_channels}, {out}, kernel_size=1, bias=False)"
    return f"nn.Sequential({put.code}, {proj}, {norm_code})", (entry,), put.needs


def _native_stage(
    spec: Spec,
    catalog: Catalog,
    chosen: dict,
    placed: dict[str, Term],
    attrs: dict[str, str],
    kind: str,
    i: int,
    count: int,
    cin: int,
    planes: int,
    out: int,
    stride: int,
    level: int,
    stage: str,
) -> Layer:
    down_entry, down_params = chosen["down"]
    width = int(planes * (spec.width_per_group / 64.0)) * spec.groups if kind == "bottleneck" else planes
    if width < 1:
        raise PlanError(
            f"{stage}: the bottleneck width int({planes} * {spec.width_per_group} / 64) * {spec.groups} is 0; "
            "use a larger --width or --width-per-group",
            slot="block",
        )
    if kind == "bottleneck" and width % spec.groups:
        raise PlanError(
            f"{stage}: --groups {spec.groups} must divide the bottleneck width {width}", slot="block"
        )
    # the catalog's contract checks of the conv slot on the block's 3x3 convs, and of the norm
    for a, b in ((cin if kind == "basic" else width, width), (width, width)):
        place(*chosen["conv"], where=f"conv slot at {stage}", in_channels=a, out_channels=b)
    for c in {width, out}:
        place(*chosen["norm"], where=f"norm slot at {stage}", in_channels=c)
    calls: list[str] = []
    entries: list[Entry] = []
    classes: list[str] = []
    notes: list[str] = []
    needs: list[Need] = []
    for j in range(count):
        first = j == 0
        b_in, b_stride = (cin, stride) if first else (out, 1)
        args = [str(b_in)] + ([str(width)] if kind == "bottleneck" else []) + [str(out)]
        if b_stride != 1:
            args.append(f"stride={b_stride}")
        if kind == "bottleneck" and spec.groups != 1:
            args.append(f"groups={spec.groups}")
        if b_in != out or b_stride != 1:
            code, used, more = _shortcut(
                catalog, chosen["down"], f"norm_layer({out})", b_in, out, b_stride, stage
            )
            args.append(f"downsample={code}")
            entries += used
            needs += more
        if b_stride != 1 and down_entry.name != STRIDED:
            needs.append(Need(down_entry.name, 2, HALVING))
        if b_stride != 1 and down_entry.name != STRIDED and down_entry.name not in SHORTCUT_ONLY:
            put = place(
                down_entry, down_params, where=f"down slot in {stage}", in_channels=width, out_channels=width
            )
            if put.out_channels != width:
                raise PlanError(
                    f"down slot in {stage}: '{down_entry.name}' makes {put.out_channels} channels from {width}; "
                    "a block's downsampling must keep them",
                    slot="down",
                )
            args.append(f"down={put.code}")
            entries.append(down_entry)
            needs += put.needs
        for position in ("conv1", "conv2", "branch", "block"):
            if position not in placed:
                continue
            channels = {"conv1": planes if kind == "basic" else width, "conv2": width}.get(position, out)
            code, used, cls, why, more = _attention(catalog, placed, position, channels, stage)
            args.append(f"{attrs[position]}={code}")
            entries += used
            classes += cls
            notes += why
            needs += more
        calls.append(f"{'BasicBlock' if kind == 'basic' else 'Bottleneck'}({', '.join(args)})")
    code = "nn.Sequential(" + "".join(f"{c}, " for c in calls) + ")"  # one per line (trailing comma)
    return Layer(
        f"layer{i + 1}",
        code,
        stage,
        ("x",),
        "x",
        Shape(out, level),
        f"{'BasicBlock' if kind == 'basic' else 'Bottleneck'} x{count}",
        _unique(entries),
        tuple(dict.fromkeys(notes)),
        tuple(dict.fromkeys(classes)),
        tuple(needs),
    )


def _plain_stage(
    spec: Spec,
    catalog: Catalog,
    chosen: dict,
    placed: dict[str, Term],
    i: int,
    count: int,
    cin: int,
    out: int,
    level: int,
    stage: str,
) -> Layer:
    """A stage of catalog blocks: the --down module (stages 2-4), then ``count`` blocks."""
    entry, params = chosen["block"]
    parts: list[str] = []
    entries: list[Entry] = [entry]
    classes: list[str] = []
    notes: list[str] = []
    needs: list[Need] = []
    channels = cin
    if i > 0:
        down_entry, down_params = chosen["down"]
        put = place(
            down_entry,
            down_params,
            where=f"down slot at {stage}",
            in_channels=channels,
            out_channels=channels,
        )
        parts.append(put.code)
        entries.append(down_entry)
        needs += put.needs
        if down_entry.name != STRIDED:
            needs.append(Need(down_entry.name, 2, HALVING))
        channels = put.out_channels
    for j in range(count):
        env = {**params, "in_channels": channels, "out_channels": out}
        for a, b in entry.contract.convs:  # the block's 3x3 convolutions (the conv slot) and their norms
            a, b = expr.evaluate(a, env), expr.evaluate(b, env)
            where = f"conv slot at {stage} (a {a} -> {b} conv inside '{entry.name}')"
            needs += place(*chosen["conv"], where=where, in_channels=a, out_channels=b).needs
            needs += place(*chosen["norm"], where=f"norm slot at {stage}", in_channels=b).needs
        put = place(entry, params, where=f"block slot at {stage}", in_channels=channels, out_channels=out)
        parts.append(put.code)
        needs += put.needs
        channels = put.out_channels
        if "block" in placed:
            code, used, cls, why, more = _attention(catalog, placed, "block", channels, stage)
            parts.append(code)
            entries += used
            classes += cls
            notes += why
            needs += more
    code = "nn.Sequential(" + "".join(f"{p}, " for p in parts) + ")"  # one per line (trailing comma)
    return Layer(
        f"layer{i + 1}",
        code,
        stage,
        ("x",),
        "x",
        Shape(channels, level),
        f"{_label(entry.build)} x{count}",
        _unique(entries),
        tuple(dict.fromkeys(notes)),
        tuple(dict.fromkeys(classes)),
        tuple(needs),
    )


def _hooks(spec: Spec, catalog: Catalog) -> tuple[Hook, ...]:
    hooks = []
    for name, slot in catalog.slots.items():
        if slot.hook and name in BLUEPRINT.slots:
            entry, params = params_of(spec, catalog, name)
            hooks.append(Hook(slot.hook, hook_code(entry, params), entry))
    return tuple(hooks)


def _helpers(stages: Stages) -> tuple[str, ...]:
    helpers = ("norm_layer", "act_layer")
    if stages.block is not None and stages.block.hook_conv:
        helpers += ("conv3x3",)
    return helpers


def _title(spec: Spec) -> str:
    """'ResNet-50', 'ResNeXt-50 32x4d', 'Wide ResNet-50-2', or the options."""
    for name, options in PRESETS.items():
        if all(spec.size(k) == v for k, v in {"groups": 1, "width_per_group": 64, **options}.items()):
            return _pretty(name)
    return f"ResNet-{spec.depth} (groups {spec.groups}, width per group {spec.width_per_group})"


def _pretty(preset: str) -> str:
    if preset.startswith("resnext"):
        depth, shape = preset.removeprefix("resnext").split("_")
        return f"ResNeXt-{depth} {shape}"
    if preset.startswith("wide_resnet"):
        depth, factor = preset.removeprefix("wide_resnet").split("_")
        return f"Wide ResNet-{depth}-{factor}"
    return f"ResNet-{preset.removeprefix('resnet')}"


def plan(spec: Spec, catalog: Catalog) -> Plan:
    stages = _stages(spec, catalog)
    layers = list(stages.layers)
    channels = stages.channels
    layers.append(
        Layer(
            "avgpool",
            "nn.AdaptiveAvgPool2d(1)",
            "head",
            ("x",),
            "x",
            Shape(channels, 5, "pooled"),
            "nn.AdaptiveAvgPool2d",
        )
    )
    layers.append(
        Layer("flatten", "nn.Flatten(1)", "head", ("x",), "x", Shape(channels, 5, "vector"), "nn.Flatten")
    )
    layers.append(
        Layer(
            "fc",
            f"nn.Linear({channels}, classes)",
            "head",
            ("x",),
            "x",
            Shape(spec.classes, 5, "vector"),
            "nn.Linear",
        )
    )
    picks = [f"{c.slot} {c.text}" for c in spec.choices if c.text != spec.default(c.slot)]
    picks += [f"attn {p.text}" for p in spec.attn]
    if spec.stem_type != "conv7":
        picks.insert(0, f"{spec.stem_type} stem")
    if spec.width != 64:
        picks.insert(0, f"width {spec.width}")
    title = _title(spec)
    block = stages.block
    kind = f"{block.name} blocks" if block else f"{spec.choice('block').name} blocks"
    counts = LAYERS[spec.depth]
    return Plan(
        spec=spec,
        class_name="ResNet",
        summary=title + (f"; {', '.join(picks)}" if picks else ""),
        doc=f"{title}: stem, stages layer1-layer4 of {kind} {list(counts)}, global average pool, fc ({spec.classes} classes).",
        layers=tuple(layers),
        hooks=_hooks(spec, catalog),
        helpers=_helpers(stages),
        input=Shape(spec.in_channels, 0),
        divisor=32,
        result="x",
        pads=False,
        extra={"block": block, "imports": ("from typing import Optional",) if block else ()},
    )


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """The classifier without avgpool and fc, for a UNet encoder (keys under ``encoder.``);
    its features: the stem's activation (1/2) and every stage (1/4 .. 1/32), as smp's."""
    stages = _stages(spec, catalog, prefix_stage="encoder ")
    block = stages.block
    return EncoderStages(
        layers=tuple(stages.layers),
        taps=tuple(stages.taps),
        class_name="ResNetEncoder",
        template="resnet/block.py.jinja" if block else "",
        extra={"block": block, "imports": ("from typing import Optional",) if block else ()},
        helpers=_helpers(stages),
        doc=f"{_title(spec)} without avgpool and fc",
    )


def _unique(entries: list[Entry]) -> tuple[Entry, ...]:
    return tuple({e.key: e for e in entries}.values())


def _label(code: str) -> str:
    return code.split("(", 1)[0]


BLUEPRINT = Blueprint(
    name="resnet",
    title="ResNet",
    help="ResNet classifier (He et al. 2016) with torchvision's layout and keys; ResNeXt and Wide ResNet by "
    "--groups and --width-per-group",
    task="classification",
    output="logits",
    options=(
        Option("in_channels", 3, "input channels", 1, 4096),
        Option("classes", 1000, "classes (the fc layer's outputs)", 1, 100000),
        Option("depth", 50, "depth preset: blocks per stage as torchvision", choices=tuple(LAYERS)),
        Option("width", 64, "channels of the stem and of stage 1's planes (torchvision: 64)", 1, 4096),
        Option("groups", 1, "groups of the 3x3 conv in bottleneck blocks (ResNeXt: 32)", 1, 1024),
        Option(
            "width_per_group",
            64,
            "bottleneck width per group (ResNeXt 32x4d: 4; Wide ResNet-50-2: 128)",
            1,
            4096,
        ),
        Option(
            "stem_type",
            "conv7",
            "the stem: conv7 (7x7 conv) or deep (three 3x3 convs, ResNet-C)",
            choices=("conv7", "deep"),
            kind=str,
        ),
    ),
    slots=("attn", "block", "conv", "norm", "act", "down", "stem"),
    slot_defaults={
        "down": STRIDED,
        "block": ByOption("depth", {d: ("residual" if d < 50 else "bottleneck") for d in LAYERS}),
    },
    positions=POSITIONS,
    default_positions=("branch",),
    plan=plan,
    diagram="chain",
    examples=(
        "plugscaffold new r50 --arch resnet --depth 50",
        "plugscaffold new se_r50 --arch resnet --depth 50 --attn se",
        "plugscaffold new rx50 --arch resnet --depth 50 --groups 32 --width-per-group 4 --down blurpool",
    ),
    presets=PRESETS,
    encoder=encoder_stages,
)
