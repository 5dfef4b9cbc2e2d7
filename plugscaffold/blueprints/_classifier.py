"""Planning shared by the torchvision-layout classifiers (mobilenet_v2, shufflenet_v2,
efficientnet, densenet, convnext): a helper module, not an architecture.

Each of those blueprints lays its model out as torchvision does, so that torchvision's
state_dict loads with ``strict=True``: a ``features`` container (or torchvision's own
attribute names), a global pool and a ``classifier``. Their Layers name submodules by their
state_dict prefix (``features.3``, ``features.denseblock1``), which the smoke check resolves
with ``get_submodule``. The pieces here: the slot choices and their hooks (``norm_layer``,
``act_layer``), attention at a block position, the optional stem module on the input, and
a :class:`Parts` collector that turns the modules of one layer into a :class:`Layer`.

A blueprint's ``plan`` builds its own stem and stage table, then hands its layers, its
:class:`Layout` (class name, keys, block docstring, padding) and its title and doc to
:func:`classifier_plan`, which makes the Plan the same way for all of them;
:func:`classifier_blueprint` fills in what their Blueprints share (task, the in_channels
and classes options, the slots).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog, Entry
from ..placement import Leaf, Term, render
from ..plan import Hook, Layer, Need, Plan, Shape, build_attention, callee, hook_code, params_of, place
from ..spec import Spec
from . import Blueprint, EncoderStages, Option

#: the slots every torchvision-layout classifier reads
SLOTS = ("attn", "norm", "act", "stem")


def classifier_blueprint(
    options: tuple[Option, ...], classes: str = "the classifier's outputs", **fields: Any
) -> Blueprint:
    """A torchvision-layout classifier's Blueprint: an image classification model returning
    logits, reading SLOTS, whose options are ``in_channels``, ``classes`` (``classes`` says what
    the outputs are) and its own ``options``."""
    common = (
        Option("in_channels", 3, "input channels", 1, 4096),
        Option("classes", 1000, f"classes ({classes})", 1, 100000),
    )
    return Blueprint(task="classification", output="logits", options=common + options, slots=SLOTS, **fields)


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: the nearest multiple of ``divisor`` (at least
    ``divisor``) that is not more than 10% below ``value``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def placements(spec: Spec) -> dict[str, Term]:
    """--attn position -> the attention expression placed there."""
    return {position: p.expr for p in spec.attn for position in p.positions}


def hooks(spec: Spec, catalog: Catalog, slots: tuple[str, ...]) -> tuple[Hook, ...]:
    """The hook functions (``norm_layer``, ``act_layer``, ...) of the slots an architecture reads."""
    found = []
    for name, slot in catalog.slots.items():
        if slot.hook and name in slots:
            entry, params = params_of(spec, catalog, name)
            found.append(Hook(slot.hook, hook_code(entry, params), entry))
    return tuple(found)


def check_norm(spec: Spec, catalog: Catalog, channels: list[int], where: str) -> tuple[Need, ...]:
    """The norm slot's contract at every channel count the model normalises."""
    entry, params = params_of(spec, catalog, "norm")
    needs: tuple[Need, ...] = ()
    for c in dict.fromkeys(channels):
        needs += place(entry, params, where=f"norm slot at {where}", in_channels=c).needs
    return needs


def picks(spec: Spec) -> list[str]:
    """The slot choices and attention that differ from the architecture's defaults."""
    chosen = [f"{c.slot} {c.text}" for c in spec.choices if c.text != spec.default(c.slot)]
    return chosen + [f"attn {p.text}" for p in spec.attn]


@dataclass
class Parts:
    """The catalog entries, helper classes, notes and size needs of one layer's modules."""

    entries: list[Entry] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    needs: list[Need] = field(default_factory=list)

    def attention(
        self, catalog: Catalog, placed: dict[str, Term], position: str, channels: int, where: str
    ) -> str:
        """Constructor code of the attention at ``position`` ('' when none is placed there)."""
        node = placed.get(position)
        if node is None:
            return ""
        c = build_attention(node, catalog, channels, f"attn at {position} of {where}")
        self.entries += c.entries
        self.classes += c.classes
        self.notes += c.notes
        self.needs += c.needs
        return c.code

    def attention_args(
        self, catalog: Catalog, placed: dict[str, Term], channels: Mapping[str, int], where: str
    ) -> list[str]:
        """``POSITION_attn=CODE`` keyword arguments of a block for the attention placed at each of
        ``channels``' positions (position -> the channels there), in that order."""
        args = []
        for position, width in channels.items():
            code = self.attention(catalog, placed, position, width, where)
            if code:
                args.append(f"{position}_attn={code}")
        return args

    def add(self, needs: tuple[Need, ...]) -> Parts:
        self.needs += needs
        return self

    def layer(
        self, attr: str, code: str, stage: str, shape: Shape, module: str, strided: bool = False
    ) -> Layer:
        """The Layer; ``strided``: it starts with a stride-2 block, so its modules after the stride
        see maps half the size of its input, at which the size check measures them."""
        needs = self.needs
        if strided:
            after = "after the layer's stride-2 start"
            needs = [Need(n.module, 2 * n.size, f"{n.size}x{n.size} {after}: {n.reason}") for n in needs]
        return Layer(
            attr,
            code,
            stage,
            ("x",),
            "x",
            shape,
            module,
            tuple({e.key: e for e in self.entries}.values()),
            tuple(dict.fromkeys(self.notes)),
            tuple(dict.fromkeys(self.classes)),
            tuple(needs),
        )


def attention_label(node: Term) -> str:
    return node.text if isinstance(node, Leaf) else render(node)


def stem(spec: Spec, catalog: Catalog) -> list[Layer]:
    """The model's first layers: the stem slot's module on the input (e.g. a spatial
    transformer), keeping its channels, or none; a separate ``stem`` attribute so that
    torchvision's ``features`` indices stay."""
    entry, params = params_of(spec, catalog, "stem")
    if entry is None:
        return []
    names = {"in_channels": "in_channels", "out_channels": "in_channels"}
    c = spec.in_channels
    put = place(entry, params, where="stem slot", in_channels=c, out_channels=c, names=names)
    layer = Layer(
        "stem",
        put.code,
        "stem",
        ("x",),
        "x",
        Shape(c, 0),
        callee(put.code),
        (entry,),
        needs=put.needs,
    )
    return [layer]


def normed(
    spec: Spec, catalog: Catalog, attr: str, code: str, stage: str, shape: Shape, module: str, where: str
) -> Layer:
    """A layer whose norm_layer normalises its output (``shape.channels``), checked against the
    norm slot's contract (``where`` names it in an error)."""
    parts = Parts().add(check_norm(spec, catalog, [shape.channels], where))
    return parts.layer(attr, code, stage, shape, module)


def conv_stem(spec: Spec, catalog: Catalog, channels: int) -> Layer:
    """``features.0`` of MobileNetV2 and EfficientNet: a stride-2 3x3 conv-norm-act."""
    code = f"ConvNormAct(in_channels, {channels}, stride=2)"
    return normed(spec, catalog, "features.0", code, "stem", Shape(channels, 1), "ConvNormAct", "the stem")


def conv_head(
    spec: Spec, catalog: Catalog, attr: str, channels: int, last: int, level: int, dropout: str
) -> list[Layer]:
    """The end of MobileNetV2 and EfficientNet: a 1x1 conv-norm-act to ``last`` channels (the
    last of ``features``, at ``attr``), global average pool and ``classifier`` (dropout with
    ``dropout``'s arguments, linear)."""
    code = f"ConvNormAct({channels}, {last}, kernel_size=1)"
    conv = normed(spec, catalog, attr, code, "last conv", Shape(last, level), "ConvNormAct", "the last conv")
    classifier = f"nn.Sequential(nn.Dropout({dropout}), nn.Linear({last}, classes))"
    return [conv, *head(last, level, "classifier", classifier, spec.classes)]


def sequential(calls: list[str]) -> str:
    """An ``nn.Sequential`` of the blocks' constructor calls, one a line."""
    return "nn.Sequential(\n" + "".join(f"{c},\n" for c in calls) + ")"


def head(channels: int, level: int, attr: str, code: str, classes: int, pool: bool = True) -> list[Layer]:
    """Global average pool, flatten and the classifier (``classifier.*`` or ``fc.*`` keys)."""
    layers = []
    if pool:
        pooled, vector = Shape(channels, level, "pooled"), Shape(channels, level, "vector")
        layers.append(
            Layer("avgpool", "nn.AdaptiveAvgPool2d(1)", "head", ("x",), "x", pooled, "nn.AdaptiveAvgPool2d")
        )
        layers.append(Layer("flatten", "nn.Flatten(1)", "head", ("x",), "x", vector, "nn.Flatten"))
    layers.append(Layer(attr, code, "head", ("x",), "x", Shape(classes, level, "vector"), callee(code)))
    return layers


def groups(layers: list[Layer]) -> list[dict]:
    """The model's attributes in order: a Layer of its own, or a container of the Layers
    named ``attr.NAME`` (``nn.Sequential``; with an OrderedDict when NAME is not an index)."""
    found: list[dict] = []
    for layer in layers:
        attr, _, name = layer.attr.partition(".")
        if not name:
            found.append({"attr": attr, "layer": layer, "layers": (), "shape": layer.shape})
            continue
        if not found or found[-1]["attr"] != attr or not found[-1]["layers"]:
            found.append({"attr": attr, "layer": None, "layers": [], "named": not name.isdigit()})
        found[-1]["layers"].append((name, layer))
        found[-1]["shape"] = layer.shape
    return found


@dataclass(frozen=True)
class Layout:
    """What one classifier's Plan says of itself whatever the options."""

    #: torchvision's class name, also the generated model's
    class_name: str
    #: the state_dict keys the model's docstring names ("features.0-7, classifier")
    keys: str
    #: the one-line summary of the block class's docstring
    block_doc: str
    #: where the block class runs each attention (position -> place, for its docstring's
    #: "Attention: ..." sentence of the placed ones), or one fixed sentence
    block_attn: Mapping[str, str] | str
    #: the --attn positions the template wires (the ``attn`` it gets: those placed)
    attn: tuple[str, ...]
    #: forward pads the input to a multiple of 32 (else each stride-2 layer rounds up)
    pads: bool


def classifier_plan(
    spec: Spec,
    catalog: Catalog,
    layers: list[Layer],
    layout: Layout,
    title: str,
    doc: str,
    sizes: tuple[str, ...] = (),
    **extra: object,
) -> Plan:
    """The Plan of a torchvision-layout classifier made of ``layers``: its summary (``title``,
    then ``sizes``, the size options that differ from torchvision's, then the slot and --attn
    picks), hooks, docstrings and the template's data (``extra`` adds to it)."""
    placed = placements(spec)
    chosen = [*sizes, *picks(spec)]
    details = layout.block_attn
    if not isinstance(details, str):
        details = attention_doc([p for p in details if p in placed], details)
    if layout.pads:
        helpers, size = ("pad_to_multiple", "norm_layer", "act_layer"), "padded inside to a multiple of 32"
    else:
        helpers, size = ("norm_layer", "act_layer"), "each stride-2 layer rounds up; 32x32 and larger"
    return Plan(
        spec=spec,
        class_name=layout.class_name,
        summary=title + (f"; {', '.join(chosen)}" if chosen else ""),
        doc=doc,
        layers=tuple(layers),
        hooks=hooks(spec, catalog, SLOTS),
        helpers=helpers,
        input=Shape(spec.in_channels, 0),
        divisor=32,
        result="x",
        pads=layout.pads,
        extra={
            "groups": groups(layers),
            "model_doc": docstring(f"{title} classifier (torchvision's layout and state_dict keys).", doc),
            "block_doc": docstring(layout.block_doc, details),
            "attn": [p for p in layout.attn if p in placed],
            **extra,
            "input": f"any H and W ({size})",
            "layout": f"Layout and state_dict keys as torchvision's {layout.class_name} ({layout.keys}).",
        },
    )


def depth_of(count: int, multiplier: float) -> int:
    """torchvision's EfficientNet depth scaling: ``ceil(count * multiplier)``."""
    return math.ceil(count * multiplier)


def docstring(summary: str, details: str = "") -> str:
    """A class docstring at 4 spaces that fits black's 88 columns: the one-line ``summary``
    (at most 78 characters), then ``details`` wrapped, if any."""
    if len(summary) > 78:
        raise ValueError(f"docstring summary over 78 characters: {summary}")
    if not details:
        return f'    """{summary}"""'
    body = textwrap.fill(details, width=84, initial_indent="    ", subsequent_indent="    ")
    return f'    """{summary}\n\n{body}\n    """'


def attention_doc(attn: list[str], where: dict[str, str]) -> str:
    """'Attention: dw_attn after the depthwise conv; block_attn after the block.' ('' if none)."""
    if not attn:
        return ""
    return "Attention: " + "; ".join(f"{p}_attn {where[p]}" for p in attn) + "."


def call_of(attr: str) -> str:
    """The expression that calls a layer by its state_dict prefix: ``features.3`` ->
    ``self.features[3]``, ``features.denseblock1`` -> ``self.features.denseblock1``."""
    return "self" + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in attr.split("."))


def encoder(
    plan: Plan,
    taps: tuple[str, ...],
    class_name: str,
    doc: str,
    splits: dict[str, list[tuple[str, str, Shape, str]]] | None = None,
) -> EncoderStages:
    """A torchvision-layout classifier's feature layers as a UNet encoder: its layers up to
    the last of ``taps`` (the keys of the steps whose outputs the decoder reads, shallowest
    first), state_dict keys unchanged (the UNet puts them under ``encoder.``), the head
    dropped. A step is one layer called whole, unless ``splits`` gives a layer's steps as
    ``(key, call suffix, Shape, cut)``: ``.norm`` then ``.relu`` ... of a Sequential, ``cut``
    the layer's code when the encoder ends after that step ("" when it cannot)."""
    steps: list[tuple[str, str, str, Shape, str]] = []
    for layer in plan.layers:
        if layer.attr == "stem":  # the stem slot (the UNet has its own)
            continue
        for key, suffix, shape, cut in (splits or {}).get(layer.attr, [(layer.attr, "", layer.shape, "")]):
            steps.append((key, layer.attr, call_of(layer.attr) + suffix, shape, cut))
        if taps[-1] in {step[0] for step in steps}:
            break
    keys = [step[0] for step in steps]
    steps = steps[: keys.index(taps[-1]) + 1]
    used = {step[1] for step in steps}
    layers = tuple(layer for layer in plan.layers if layer.attr in used)
    shapes = {step[0]: step[3] for step in steps}
    return EncoderStages(
        layers=layers,
        taps=tuple((key, shapes[key]) for key in taps),
        class_name=class_name,
        template=plan.spec.arch + "/model.py.jinja",
        extra={"plan": plan, "groups": groups(list(layers)), "imports": plan.extra.get("imports", ())},
        helpers=plan.helpers,
        doc=doc,
        body="_classifier/encoder.py.jinja",
        steps=tuple(steps),
    )
