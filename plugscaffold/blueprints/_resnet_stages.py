"""The ResNet's stem and stages ``layer1`` .. ``layer4``, shared by the ResNet classifier and
the UNet's ResNet encoders (resnet.py), and the residual block class model.py writes for
them: a helper module, not an architecture.

:func:`plan_stages` reads like the network: the choices and their checks, the stem, then
each stage, made of model.py's own ``BasicBlock`` / ``Bottleneck`` (:func:`_native_stage`)
or of the catalog's blocks (:func:`_plain_stage`).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass

from ..catalog import Catalog, Entry
from ..errors import PlanError
from ..placement import Leaf, Term
from ..plan import Layer, Need, Shape, callee, inner_conv_needs, params_of, place
from ..spec import Spec
from ._classifier import Parts, placements

#: blocks per stage, per depth preset (torchvision)
LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
#: the catalog's ResNet blocks, written as model.py's own BasicBlock / Bottleneck classes
NATIVE = {"residual": "basic", "bottleneck": "bottleneck"}
EXPANSION = {"basic": 1, "bottleneck": 4}
#: model.py's class for each native block kind
CLASS_NAMES = {"basic": "BasicBlock", "bottleneck": "Bottleneck"}
#: --down choices that go on the shortcut only; the 3x3 conv keeps the stride (ResNet-D)
SHORTCUT_ONLY = ("avgpool",)
#: the default --down: torchvision's strided 3x3 conv and strided 1x1 projection
STRIDED = "conv"
#: why a --down module other than the strided conv needs a 2x2 map (a stage's input can be 1x1:
#: the ResNet does not pad its input)
HALVING = "it halves H and W with a 2x2 window at least"
#: the --attn positions inside a native block, in forward order
BLOCK_POSITIONS = ("conv1", "conv2", "branch", "block")
#: attribute names in the block for attention at each position (branch: the module's own name)
ATTRS = {"conv1": "attn1", "conv2": "attn2", "block": "attn_out"}
#: the slots the stem and stages read (act only through its hook)
SLOTS = ("block", "conv", "norm", "down", "stem")


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


@dataclass(frozen=True)
class Body:
    """What every stage reads: the slot choices (slot -> (entry, params)), the attention
    placed at each position, the block kind (basic or bottleneck; None: the catalog's
    blocks) and the block's attribute for the attention at each position."""

    spec: Spec
    catalog: Catalog
    chosen: dict[str, tuple[Entry | None, dict]]
    placed: dict[str, Term]
    kind: str | None
    attrs: dict[str, str]


@dataclass(frozen=True)
class Stage:
    """Where one stage sits: ``index`` 0..3, its block count, input channels, planes, output
    channels, the first block's stride, its level (1 / 2**level of the input) and its name."""

    index: int
    count: int
    cin: int
    planes: int
    out: int
    stride: int
    level: int
    name: str

    @property
    def attr(self) -> str:
        return f"layer{self.index + 1}"


def plan_stages(spec: Spec, catalog: Catalog, prefix_stage: str = "") -> Stages:
    """The stem and layer1..layer4 of ``spec`` (shared by the classifier and UNet encoders)."""
    body = _body(spec, catalog)
    layers, taps = _stem(body, prefix_stage)
    places = _places(spec, body.kind, prefix_stage)
    for stage in places:
        layer = _plain_stage(body, stage) if body.kind is None else _native_stage(body, stage)
        layers.append(layer)
        taps.append((layer.attr, layer.shape))
    return Stages(layers, _block_class(body), places[-1].out, taps)


# --- the choices -----------------------------------------------------------------------------


def _body(spec: Spec, catalog: Catalog) -> Body:
    chosen = {slot: params_of(spec, catalog, slot) for slot in SLOTS}
    placed = placements(spec)
    kind = NATIVE.get(chosen["block"][0].name)
    _check_choices(spec, catalog, chosen, placed, kind)
    return Body(spec, catalog, chosen, placed, kind, _attn_attrs(placed))


def _check_choices(
    spec: Spec, catalog: Catalog, chosen: dict, placed: dict[str, Term], kind: str | None
) -> None:
    """The attention positions, groups and conv that the block kind takes."""
    block_entry, _ = chosen["block"]
    conv_entry, _ = chosen["conv"]
    if kind is None:
        native_only = sorted(set(placed) - {"block"})
        if native_only:
            raise PlanError(
                f"--attn at {', '.join(native_only)} needs a residual block (--block residual or "
                f"bottleneck); '{block_entry.name}' blocks take attention at 'block'",
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
    if kind is not None and conv_entry.name != catalog.slots["conv"].default and spec.groups != 1:
        raise PlanError(
            f"--conv {conv_entry.name} has no groups; --groups {spec.groups} (ResNeXt) needs --conv conv",
            slot="conv",
        )


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


# --- the stem --------------------------------------------------------------------------------


def _stem(body: Body, prefix_stage: str) -> tuple[list[Layer], list[tuple[str, Shape]]]:
    """[the stem slot's module] -> conv1 -> bn1 -> relu -> maxpool; the taps (relu, at 1/2)."""
    spec = body.spec
    layers = _stem_slot(body)
    name, width = f"{prefix_stage}stem", spec.width
    code, label = _stem_conv(spec)
    layers.append(Layer("conv1", code, name, ("x",), "x", Shape(width, 1), label))
    layers.append(Layer("bn1", f"norm_layer({width})", name, ("x",), "x", Shape(width, 1), "norm_layer"))
    layers.append(Layer("relu", "act_layer()", name, ("x",), "x", Shape(width, 1), "act_layer"))
    pool = "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)"
    layers.append(Layer("maxpool", pool, name, ("x",), "x", Shape(width, 2), "nn.MaxPool2d"))
    return layers, [("relu", Shape(width, 1))]


def _stem_slot(body: Body) -> list[Layer]:
    """The stem slot's module on the input (e.g. a spatial transformer), keeping its channels,
    or none; the model's ``in_channels`` argument feeds it."""
    entry, params = body.chosen["stem"]
    if entry is None:
        return []
    c, names = body.spec.in_channels, {"in_channels": "in_channels", "out_channels": "in_channels"}
    put = place(entry, params, where="stem slot", in_channels=c, out_channels=c, names=names)
    label = callee(put.code)
    return [Layer("stem", put.code, "stem", ("x",), "x", Shape(c, 0), label, (entry,), needs=put.needs)]


def _stem_conv(spec: Spec) -> tuple[str, str]:
    """conv1's code (on the model's ``in_channels`` argument) and its diagram label."""
    width = spec.width
    if spec.stem_type == "deep":  # ResNet-C
        half = max(width // 2, 1)
        code = (
            f"nn.Sequential(nn.Conv2d(in_channels, {half}, kernel_size=3, stride=2, padding=1, bias=False), "
            f"norm_layer({half}), act_layer(), "
            f"nn.Conv2d({half}, {half}, kernel_size=3, padding=1, bias=False), "
            f"norm_layer({half}), act_layer(), "
            f"nn.Conv2d({half}, {width}, kernel_size=3, padding=1, bias=False))"
        )
        return code, "deep stem (3x 3x3 conv)"
    code = f"nn.Conv2d(in_channels, {width}, kernel_size=7, stride=2, padding=3, bias=False)"
    return code, "nn.Conv2d 7x7"


# --- the stages ------------------------------------------------------------------------------


def _places(spec: Spec, kind: str | None, prefix_stage: str) -> list[Stage]:
    """Stage i has ``width * 2**(i-1)`` planes; stages 2-4 start with a stride-2 block."""
    places: list[Stage] = []
    cin = spec.width
    for i, count in enumerate(LAYERS[spec.depth]):
        planes = spec.width * 2**i
        out = planes * EXPANSION.get(kind, 1)
        level = 2 + i  # stage 1 at 1/4 of the input, each later stage halves
        stride = 1 if i == 0 else 2
        places.append(Stage(i, count, cin, planes, out, stride, level, f"{prefix_stage}stage {i + 1}"))
        cin = out
    return places


def _native_stage(body: Body, stage: Stage) -> Layer:
    """``stage.count`` of model.py's own BasicBlock / Bottleneck, the first one strided."""
    width = _block_width(body, stage)
    _check_block_slots(body, stage, width)
    parts = Parts()
    calls = [_block_call(body, stage, width, parts, first=j == 0) for j in range(stage.count)]
    code = "nn.Sequential(" + "".join(f"{c}, " for c in calls) + ")"  # one per line (trailing comma)
    module = f"{CLASS_NAMES[body.kind]} x{stage.count}"
    return parts.layer(stage.attr, code, stage.name, Shape(stage.out, stage.level), module)


def _block_width(body: Body, stage: Stage) -> int:
    """The channels of the block's 3x3 conv: the planes, or a bottleneck's ``groups *
    width_per_group`` scaled to them (torchvision)."""
    if body.kind != "bottleneck":
        return stage.planes
    spec = body.spec
    width = int(stage.planes * (spec.width_per_group / 64.0)) * spec.groups
    if width < 1:
        raise PlanError(
            f"{stage.name}: the bottleneck width int({stage.planes} * {spec.width_per_group} / 64) * "
            f"{spec.groups} is 0; use a larger --width or --width-per-group",
            slot="block",
        )
    if width % spec.groups:
        raise PlanError(
            f"{stage.name}: --groups {spec.groups} must divide the bottleneck width {width}", slot="block"
        )
    return width


def _check_block_slots(body: Body, stage: Stage, width: int) -> None:
    """The catalog's contract checks of the conv slot on the block's 3x3 convs, and of the norm."""
    first = stage.cin if body.kind == "basic" else width
    for a, b in ((first, width), (width, width)):
        place(*body.chosen["conv"], where=f"conv slot at {stage.name}", in_channels=a, out_channels=b)
    for c in {width, stage.out}:
        place(*body.chosen["norm"], where=f"norm slot at {stage.name}", in_channels=c)


def _block_call(body: Body, stage: Stage, width: int, parts: Parts, first: bool) -> str:
    """One block's constructor call: ``Bottleneck(cin, width, out, stride=2, groups=..,
    downsample=.., down=.., ATTN=..)``; what its modules use goes into ``parts``."""
    cin, stride = (stage.cin, stage.stride) if first else (stage.out, 1)
    args = [str(cin)] + ([str(width)] if body.kind == "bottleneck" else []) + [str(stage.out)]
    if stride != 1:
        args.append(f"stride={stride}")
    if body.kind == "bottleneck" and body.spec.groups != 1:
        args.append(f"groups={body.spec.groups}")
    if cin != stage.out or stride != 1:
        args.append(f"downsample={_shortcut(body, parts, cin, stage.out, stride, stage.name)}")
    if stride != 1:
        args += _main_down(body, parts, width, stage.name)
    args += _block_attention(body, parts, stage, width)
    return f"{CLASS_NAMES[body.kind]}({', '.join(args)})"


def _shortcut(body: Body, parts: Parts, cin: int, out: int, stride: int, where: str) -> str:
    """torchvision's projection shortcut (``downsample``), with the --down choice."""
    entry, params = body.chosen["down"]
    norm = f"norm_layer({out})"
    proj = f"nn.Conv2d({cin}, {out}, kernel_size=1, bias=False)"
    if stride == 1:
        if entry.name in SHORTCUT_ONLY:  # timm's avg_down keys: downsample.1 / .2 (.0 an identity)
            return f"nn.Sequential(nn.Identity(), {proj}, {norm})"
        return f"nn.Sequential({proj}, {norm})"
    if entry.name == STRIDED:
        strided = f"nn.Conv2d({cin}, {out}, kernel_size=1, stride=2, bias=False)"
        return f"nn.Sequential({strided}, {norm})"
    put = place(
        entry, params, where=f"down slot at the shortcut of {where}", in_channels=cin, out_channels=cin
    )
    parts.entries.append(entry)
    parts.add(put.needs)
    if put.out_channels != cin:
        proj = f"nn.Conv2d({put.out_channels}, {out}, kernel_size=1, bias=False)"
    return f"nn.Sequential({put.code}, {proj}, {norm})"


def _main_down(body: Body, parts: Parts, width: int, where: str) -> list[str]:
    """The strided block's ``down=`` argument: the --down module after the strided conv's
    activation (none for the strided conv itself and the shortcut-only choices)."""
    entry, params = body.chosen["down"]
    if entry.name == STRIDED:
        return []
    parts.needs.append(Need(entry.name, 2, HALVING))
    if entry.name in SHORTCUT_ONLY:
        return []
    put = place(entry, params, where=f"down slot in {where}", in_channels=width, out_channels=width)
    if put.out_channels != width:
        raise PlanError(
            f"down slot in {where}: '{entry.name}' makes {put.out_channels} channels from {width}; "
            "a block's downsampling must keep them",
            slot="down",
        )
    parts.entries.append(entry)
    parts.add(put.needs)
    return [f"down={put.code}"]


def _block_attention(body: Body, parts: Parts, stage: Stage, width: int) -> list[str]:
    """``ATTR=CODE`` arguments for the attention placed at each position inside the block."""
    channels = {"conv1": stage.planes if body.kind == "basic" else width, "conv2": width}
    args = []
    for position in BLOCK_POSITIONS:
        if position in body.placed:
            at = channels.get(position, stage.out)
            code = parts.attention(body.catalog, body.placed, position, at, stage.name)
            args.append(f"{body.attrs[position]}={code}")
    return args


def _plain_stage(body: Body, stage: Stage) -> Layer:
    """A stage of catalog blocks: the --down module (stages 2-4), then ``count`` blocks, each
    followed by the attention at 'block'."""
    entry, _ = body.chosen["block"]
    parts = Parts(entries=[entry])
    codes: list[str] = []
    channels = stage.cin
    if stage.index > 0:
        code, channels = _plain_down(body, parts, stage)
        codes.append(code)
    for _ in range(stage.count):
        code, channels = _plain_block(body, parts, stage, channels)
        codes.append(code)
        if "block" in body.placed:
            codes.append(parts.attention(body.catalog, body.placed, "block", channels, stage.name))
    code = "nn.Sequential(" + "".join(f"{c}, " for c in codes) + ")"  # one per line (trailing comma)
    module = f"{callee(entry.build)} x{stage.count}"
    return parts.layer(stage.attr, code, stage.name, Shape(channels, stage.level), module)


def _plain_down(body: Body, parts: Parts, stage: Stage) -> tuple[str, int]:
    """The --down module that starts a plain stage: its code and output channels."""
    entry, params = body.chosen["down"]
    c = stage.cin
    put = place(entry, params, where=f"down slot at {stage.name}", in_channels=c, out_channels=c)
    parts.entries.append(entry)
    parts.add(put.needs)
    if entry.name != STRIDED:
        parts.needs.append(Need(entry.name, 2, HALVING))
    return put.code, put.out_channels


def _plain_block(body: Body, parts: Parts, stage: Stage, channels: int) -> tuple[str, int]:
    """A catalog block of the stage (its convs checked against the conv and norm slots): its
    code and output channels."""
    chosen = body.chosen
    block, conv, norm = chosen["block"], chosen["conv"], chosen["norm"]
    parts.add(inner_conv_needs(block, conv, norm, channels, stage.out, stage.name))
    entry, params = block
    where = f"block slot at {stage.name}"
    put = place(entry, params, where=where, in_channels=channels, out_channels=stage.out)
    parts.add(put.needs)
    return put.code, put.out_channels


# --- the block class -------------------------------------------------------------------------


def _block_class(body: Body) -> BlockClass | None:
    """model.py's BasicBlock / Bottleneck with the attention and --down this model uses."""
    if body.kind is None:
        return None
    down_entry, _ = body.chosen["down"]
    conv_entry, _ = body.chosen["conv"]
    attn = tuple((p, body.attrs[p]) for p in BLOCK_POSITIONS if p in body.placed)
    down = "" if down_entry.name == STRIDED or down_entry.name in SHORTCUT_ONLY else "main"
    return BlockClass(
        name=CLASS_NAMES[body.kind],
        kind=body.kind,
        doc=_block_doc(body.kind, attn, down, down_entry),
        attn=attn,
        down=down,
        hook_conv=conv_entry.name != body.catalog.slots["conv"].default,
    )


def _block_doc(kind: str, attn: tuple[tuple[str, str], ...], down: str, down_entry: Entry) -> str:
    names = dict(attn)

    def then(position: str) -> str:
        return f" -> {names[position]}" if position in names else ""

    d = f" -> {down_entry.name} (stride 2)" if down else ""
    strided = "" if down else "stride, "
    if kind == "basic":
        return (
            f"3x3 conv{'' if down else ' (stride)'} -> norm -> act{d}{then('conv1')} "
            f"-> 3x3 conv -> norm{then('branch')} -> + shortcut -> act{then('block')}"
        )
    return (
        f"1x1 conv -> norm -> act{then('conv1')} -> 3x3 conv ({strided}groups) -> norm -> act{d}"
        f"{then('conv2')} -> 1x1 conv -> norm{then('branch')} -> + shortcut -> act{then('block')}"
    )
