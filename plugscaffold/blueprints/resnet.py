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

from ..catalog import Catalog
from ..plan import Plan, Shape
from ..spec import Spec
from . import Blueprint, ByOption, EncoderStages, Option
from ._classifier import head, hooks, picks
from ._resnet_stages import LAYERS, STRIDED, Stages, plan_stages

POSITIONS = {
    "conv1": "after the first conv of every block (after its norm and activation)",
    "conv2": "after the 3x3 conv of every bottleneck block (after its norm and activation)",
    "branch": "on the residual branch before the add (after the last norm): the SE paper's position",
    "block": "after every block (after the add and activation)",
}

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


def plan(spec: Spec, catalog: Catalog) -> Plan:
    """stem, layer1..layer4, then torchvision's head: avgpool, flatten, fc."""
    stages = plan_stages(spec, catalog)
    channels = stages.channels
    layers = [*stages.layers, *head(channels, 5, "fc", f"nn.Linear({channels}, classes)", spec.classes)]
    chosen = picks(spec)
    if spec.stem_type != "conv7":
        chosen.insert(0, f"{spec.stem_type} stem")
    if spec.width != 64:
        chosen.insert(0, f"width {spec.width}")
    title = _title(spec)
    block = stages.block
    kind = f"{block.name} blocks" if block else f"{spec.choice('block').name} blocks"
    counts = list(LAYERS[spec.depth])
    return Plan(
        spec=spec,
        class_name="ResNet",
        summary=title + (f"; {', '.join(chosen)}" if chosen else ""),
        doc=f"{title}: stem, stages layer1-layer4 of {kind} {counts}, global average pool, "
        f"fc ({spec.classes} classes).",
        layers=tuple(layers),
        hooks=hooks(spec, catalog, BLUEPRINT.slots),
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
    stages = plan_stages(spec, catalog, prefix_stage="encoder ")
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
