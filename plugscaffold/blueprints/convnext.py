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
from . import EncoderStages, Option
from ._classifier import (
    Layout,
    Parts,
    check_norm,
    classifier_blueprint,
    classifier_plan,
    encoder,
    placements,
    sequential,
    stem,
)

#: blocks per stage, stochastic depth (torchvision's convnext_tiny and convnext_small)
VARIANTS = {"tiny": ((3, 3, 9, 3), 0.1), "small": ((3, 3, 27, 3), 0.4)}
POSITIONS = {
    "branch": "on the residual branch of every block: after its MLP, before the layer scale and the add",
    "block": "after every block (after the add)",
}
LAYOUT = Layout(
    class_name="ConvNeXt",
    keys="features.0-7, classifier",
    block_doc="7x7 depthwise -> LayerNorm -> MLP (4x, act) -> layer scale -> + input.",
    block_attn={"branch": "after the MLP, before the layer scale", "block": "after the add"},
    attn=tuple(POSITIONS),
    pads=True,  # the 4x4 stride-4 stem and 2x2 downsampling floor odd sizes: pad, every stage halves exactly
)


def _title(spec: Spec) -> str:
    return f"ConvNeXt-{spec.variant[0].upper()}"


def plan(spec: Spec, catalog: Catalog) -> Plan:
    depths, _ = VARIANTS[spec.variant]
    widths = [spec.width * 2**i for i in range(4)]
    layers = stem(spec, catalog)
    parts = Parts().add(check_norm(spec, catalog, widths, "the stem, downsampling and head"))
    conv = f"nn.Conv2d(in_channels, {widths[0]}, kernel_size=4, stride=4)"
    code = f"nn.Sequential({conv}, norm_layer({widths[0]}))"
    layers.append(parts.layer("features.0", code, "stem", Shape(widths[0], 2), "patchify 4x4"))
    layers += _stages(spec, catalog, widths)
    layers += _head(spec, catalog, widths[-1])
    doc = (
        f"{_title(spec)}: patchify stem, 4 stages of ConvNeXt blocks {list(depths)} with downsampling "
        f"between, global average pool, classifier ({spec.classes} classes)."
    )
    sizes = (f"width {spec.width}",) if spec.width != 96 else ()
    return classifier_plan(spec, catalog, layers, LAYOUT, _title(spec), doc, sizes)


def _stages(spec: Spec, catalog: Catalog, widths: list[int]) -> list[Layer]:
    """Stages 1-4 of ConvNeXt blocks (``features.1, 3, 5, 7``) and the downsampling between them
    (``features.2, 4, 6``); the drop probability grows linearly over the blocks."""
    placed = placements(spec)
    depths, drop = VARIANTS[spec.variant]
    total = sum(depths)
    layers: list[Layer] = []
    for i, (count, width) in enumerate(zip(depths, widths)):
        level, stage = 2 + i, f"stage {i + 1}"
        if i > 0:
            conv = f"nn.Conv2d({widths[i - 1]}, {width}, kernel_size=2, stride=2)"
            code = f"nn.Sequential(norm_layer({widths[i - 1]}), {conv})"
            shape, where = Shape(width, level), f"downsampling {i}"
            layers.append(Parts().layer(f"features.{2 * i}", code, where, shape, "norm, 2x2 conv"))
        parts = Parts()
        calls = []
        for block_id in range(sum(depths[:i]), sum(depths[: i + 1])):
            args = [str(width), f"stochastic_depth={round(drop * block_id / (total - 1), 4)}"]
            args += parts.attention_args(catalog, placed, dict.fromkeys(POSITIONS, width), stage)
            calls.append(f"CNBlock({', '.join(args)})")
        code, shape = sequential(calls), Shape(width, level)
        layers.append(parts.layer(f"features.{2 * i + 1}", code, stage, shape, f"CNBlock x{count}"))
    return layers


def _head(spec: Spec, catalog: Catalog, last: int) -> list[Layer]:
    """Global average pool, then ``classifier``: norm (on the pooled 1x1 features), flatten, linear."""
    pooled = Shape(last, 5, "pooled")
    pool = Layer("avgpool", "nn.AdaptiveAvgPool2d(1)", "head", ("x",), "x", pooled, "nn.AdaptiveAvgPool2d")
    for need in check_norm(spec, catalog, [last], "the head"):
        if need.size > 1:  # the head normalises pooled (1x1) features
            raise PlanError(
                f"norm slot at the head: '{need.module}' needs at least {need.size}x{need.size} "
                f"({need.reason}), but the classifier normalises the pooled 1x1 features",
                slot="norm",
            )
    classifier = f"nn.Sequential(norm_layer({last}), nn.Flatten(1), nn.Linear({last}, classes))"
    shape = Shape(spec.classes, 5, "vector")
    return [pool, Layer("classifier", classifier, "head", ("x",), "x", shape, "norm, linear")]


def encoder_stages(spec: Spec, catalog: Catalog) -> EncoderStages:
    """``features`` without the classifier (its norm included): features at 1/4, 1/8, 1/16 and
    1/32 (the end of stages 1-4, as timm's ConvNeXt features that smp uses); the 4x4 patchify
    stem makes no 1/2 feature, so the decoder's last two stages upsample without a skip."""
    taps = ("features.1", "features.3", "features.5", "features.7")
    return encoder(plan(spec, catalog), taps, "ConvNeXtEncoder", f"{_title(spec)}'s features")


BLUEPRINT = classifier_blueprint(
    name="convnext",
    title="ConvNeXt",
    help="ConvNeXt classifier (Liu et al. 2022) with torchvision's layout and keys; --variant tiny, small",
    options=(
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
    slot_defaults={"norm": "ln2d", "act": "gelu"},
    positions=POSITIONS,
    default_positions=("branch",),
    plan=plan,
    examples=("plugscaffold new cnx --arch convnext", "plugscaffold new cnx_se --arch convnext --attn se"),
    presets={f"convnext_{v}": {"variant": v} for v in VARIANTS},
    encoder=encoder_stages,
)
