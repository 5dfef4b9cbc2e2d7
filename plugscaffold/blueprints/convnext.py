"""The ConvNeXt blueprint (Liu et al. 2022), laid out as torchvision's ``models/convnext.py``.

``features``: a 4x4 stride-4 patchify stem with a channels-first LayerNorm (``features.0``),
then four stages of ConvNeXt blocks (``features.1, 3, 5, 7``) with a norm and a 2x2 stride-2
conv between them (``features.2, 4, 6``); then global average pool and ``classifier`` (norm,
flatten, linear). Stage i has ``width * 2**(i-1)`` channels. A block: 7x7 depthwise conv ->
LayerNorm over channels -> linear to 4x -> act -> linear back -> layer scale (1e-6 at
init) -> stochastic depth -> + input; the drop probability grows linearly to the
variant's (tiny 0.1, small 0.4) over the blocks, as torchvision's.
Module names and state_dict keys are torchvision's, so its checkpoints load with
``strict=True``.

Slots: ``norm`` is the stem's, the downsampling layers' and the head's (channels-first
LayerNorm, ``ln2d``, by default); the block's own LayerNorm works on channels-last
tensors before its linear layers and stays. ``act`` is the block's (GELU by default).
``--attn EXPR@POSITION``: ``branch`` (after the block's MLP, before the layer scale and
the add) or ``block`` (after the add).
"""

from __future__ import annotations

from ..catalog import Catalog
from ..errors import PlanError
from ..plan import Layer, Plan, Shape
from ..spec import Spec
from . import Blueprint, EncoderStages, Option
from ._classifier import (
    Parts,
    attention_doc,
    check_norm,
    docstring,
    encoder,
    groups,
    hooks,
    picks,
    placements,
    stem,
)

#: blocks per stage, stochastic depth (torchvision's convnext_tiny and convnext_small)
VARIANTS = {"tiny": ((3, 3, 9, 3), 0.1), "small": ((3, 3, 27, 3), 0.4)}
POSITIONS = {
    "branch": "on the residual branch of every block: after its MLP, before the layer scale and the add",
    "block": "after every block (after the add)",
}
BLOCK_DOC = "7x7 depthwise -> LayerNorm -> MLP (4x, act) -> layer scale -> + input."
#: where each attention of the block class runs (its docstring)
BLOCK_ATTN = {"branch": "after the MLP, before the layer scale", "block": "after the add"}
SLOTS = ("attn", "norm", "act", "stem")


def plan(spec: Spec, catalog: Catalog) -> Plan:
    placed = placements(spec)
    depths, drop = VARIANTS[spec.variant]
    widths = [spec.width * 2**i for i in range(4)]
    total = sum(depths)
    layers: list[Layer] = []
    first = stem(spec, catalog)
    if first is not None:
        layers.append(first)
    parts = Parts()
    parts.add(check_norm(spec, catalog, widths, "the stem, downsampling and head"))
    code = f"nn.Sequential(nn.Conv2d(in_channels, {widths[0]}, kernel_size=4, stride=4), norm_layer({widths[0]}))"
    layers.append(parts.layer("features.0", code, "stem", Shape(widths[0], 2), "patchify 4x4"))
    index, block_id = 1, 0
    for i, (count, width) in enumerate(zip(depths, widths)):
        level = 2 + i
        stage = f"stage {i + 1}"
        if i > 0:
            code = f"nn.Sequential(norm_layer({widths[i - 1]}), nn.Conv2d({widths[i - 1]}, {width}, kernel_size=2, stride=2))"
            layers.append(
                Parts().layer(
                    f"features.{index}", code, f"downsampling {i}", Shape(width, level), "norm, 2x2 conv"
                )
            )
            index += 1
        parts = Parts()
        calls = []
        for _ in range(count):
            args = [str(width), f"stochastic_depth={round(drop * block_id / (total - 1), 4)}"]
            for position in POSITIONS:
                attn = parts.attention(catalog, placed, position, width, stage)
                if attn:
                    args.append(f"{position}_attn={attn}")
            calls.append(f"CNBlock({', '.join(args)})")
            block_id += 1
        code = "nn.Sequential(\n" + "".join(f"{c},\n" for c in calls) + ")"
        layers.append(parts.layer(f"features.{index}", code, stage, Shape(width, level), f"CNBlock x{count}"))
        index += 1
    last = widths[-1]
    pooled = Shape(last, 5, "pooled")
    layers.append(
        Layer("avgpool", "nn.AdaptiveAvgPool2d(1)", "head", ("x",), "x", pooled, "nn.AdaptiveAvgPool2d")
    )
    for need in check_norm(spec, catalog, [last], "the head"):
        if need.size > 1:  # the head normalises pooled (1x1) features
            raise PlanError(
                f"norm slot at the head: '{need.module}' needs at least {need.size}x{need.size} ({need.reason}), "
                "but the classifier normalises the pooled 1x1 features",
                slot="norm",
            )
    classifier = f"nn.Sequential(norm_layer({last}), nn.Flatten(1), nn.Linear({last}, classes))"
    layers.append(
        Layer("classifier", classifier, "head", ("x",), "x", Shape(spec.classes, 5, "vector"), "norm, linear")
    )

    chosen = picks(spec)
    if spec.width != 96:
        chosen.insert(0, f"width {spec.width}")
    title = f"ConvNeXt-{spec.variant[0].upper()}"
    doc = (
        f"{title}: patchify stem, 4 stages of ConvNeXt blocks {list(depths)} with downsampling between, "
        f"global average pool, classifier ({spec.classes} classes)."
    )
    return Plan(
        spec=spec,
        class_name="ConvNeXt",
        summary=title + (f"; {', '.join(chosen)}" if chosen else ""),
        doc=doc,
        layers=tuple(layers),
        hooks=hooks(spec, catalog, SLOTS),
        helpers=("pad_to_multiple", "norm_layer", "act_layer"),
        input=Shape(spec.in_channels, 0),
        divisor=32,
        result="x",
        pads=True,  # the 4x4 stride-4 stem and 2x2 downsampling floor odd sizes: pad, every stage halves exactly
        extra={
            "groups": groups(layers),
            "model_doc": docstring(f"{title} classifier (torchvision's layout and state_dict keys).", doc),
            "block_doc": docstring(
                BLOCK_DOC,
                attention_doc([p for p in POSITIONS if p in placed and p in BLOCK_ATTN], BLOCK_ATTN),
            ),
            "attn": [p for p in POSITIONS if p in placed],
            "input": "any H and W (padded inside to a multiple of 32)",
            "layout": "Layout and state_dict keys as torchvision's ConvNeXt (features.0-7, classifier).",
        },
    )


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """``features`` without the classifier (its norm included): features at 1/4, 1/8, 1/16 and
    1/32 (the end of stages 1-4, as timm's ConvNeXt features that smp uses); the 4x4 patchify
    stem makes no 1/2 feature, so the decoder's last two stages upsample without a skip."""
    taps = ("features.1", "features.3", "features.5", "features.7")
    title = f"ConvNeXt-{spec.variant[0].upper()}"
    return encoder(plan(spec, catalog), taps, "ConvNeXtEncoder", f"{title}'s features")


BLUEPRINT = Blueprint(
    name="convnext",
    title="ConvNeXt",
    help="ConvNeXt classifier (Liu et al. 2022) with torchvision's layout and keys; --variant tiny, small",
    task="classification",
    output="logits",
    options=(
        Option("in_channels", 3, "input channels", 1, 4096),
        Option("classes", 1000, "classes (the classifier's outputs)", 1, 100000),
        Option(
            "variant",
            "tiny",
            "blocks per stage and stochastic depth (torchvision's convnext_tiny, convnext_small)",
            choices=tuple(VARIANTS),
            kind=str,
        ),
        Option(
            "width",
            96,
            "channels of stage 1 (torchvision: 96; convnext_base is small's blocks at 128)",
            8,
            4096,
        ),
    ),
    slots=SLOTS,
    slot_defaults={"norm": "ln2d", "act": "gelu"},
    positions=POSITIONS,
    default_positions=("branch",),
    plan=plan,
    diagram="chain",
    examples=("plugscaffold new cnx --arch convnext", "plugscaffold new cnx_se --arch convnext --attn se"),
    presets={f"convnext_{v}": {"variant": v} for v in VARIANTS},
    encoder=encoder_stages,
)
