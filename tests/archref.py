"""Reference networks for the architecture-equality tests: what is compared, and the
deterministic weights both sides load.

Each reference (torchvision, timm, smp, the official CBAM and ECA code) is captured once by
``tests/fixtures/capture_architectures.py`` into ``tests/fixtures/architectures/NAME.json``
(parameter count, every state_dict key with its shape in order) and ``NAME.pt`` (the
eval-mode output for :func:`reference_input` with the weights of :func:`deterministic_state`).
The tests build our generated model, compare keys, shapes and count, load the same
deterministic weights (made from the reference's keys, renamed by ``key_map`` where the
reference names a module differently) with ``strict=True`` and compare outputs.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "architectures"


def _timm_se(key: str, value: torch.Tensor) -> tuple[str, torch.Tensor]:
    """timm's SEModule (fc1/fc2 are 1x1 convs) -> SqueezeExcite (fc.0/fc.2 Linear layers)."""
    key = re.sub(r"\.se\.fc1\.", ".se.fc.0.", key)
    key = re.sub(r"\.se\.fc2\.", ".se.fc.2.", key)
    if ".se.fc." in key and key.endswith("weight"):
        value = value.flatten(1)
    return key, value


#: skip channels of smp's Unet('resnet34') decoder blocks, deepest first
SMP_RESNET34_SKIPS = (256, 128, 64, 64, 0)


def _smp_unet(key: str, value: torch.Tensor) -> tuple[str, torch.Tensor]:
    """segmentation_models_pytorch's Unet -> ours: the encoder keeps its (torchvision) keys;
    decoder.blocks.k (deepest first) -> dec{5-k}.double_conv (conv1.0/.1 -> 0/1, conv2.0/.1 ->
    3/4, the activations sit at 2 and 5), the first conv's input channels reordered from smp's
    [upsampled, skip] to [skip, upsampled]; segmentation_head.0 -> head."""
    match = re.match(r"decoder\.blocks\.(\d+)\.conv([12])\.([01])\.(.+)", key)
    if match:
        block, conv, part, leaf = match.groups()
        index = (int(conv) - 1) * 3 + int(part)
        skip = SMP_RESNET34_SKIPS[int(block)]
        if (conv, part, leaf) == ("1", "0", "weight") and skip:
            # smp concatenates [upsampled, skip]; our cat fusion [skip, upsampled] (milesial's order)
            up = value.shape[1] - skip
            value = torch.cat([value[:, up:], value[:, :up]], dim=1)
        return f"dec{5 - int(block)}.double_conv.{index}.{leaf}", value
    return key.replace("segmentation_head.0.", "head."), value


#: name -> what the reference is, our options, the input side, and how keys map (None: same keys)
REFERENCES: dict[str, dict] = {
    "resnet18": {"ref": "torchvision.models.resnet18()", "options": {"arch": "resnet", "depth": 18}},
    "resnet34": {"ref": "torchvision.models.resnet34()", "options": {"arch": "resnet", "depth": 34}},
    "resnet50": {"ref": "torchvision.models.resnet50()", "options": {"arch": "resnet", "depth": 50}},
    "resnet101": {"ref": "torchvision.models.resnet101()", "options": {"arch": "resnet", "depth": 101}},
    "resnet152": {"ref": "torchvision.models.resnet152()", "options": {"arch": "resnet", "depth": 152}},
    "resnext50_32x4d": {
        "ref": "torchvision.models.resnext50_32x4d()",
        "options": {"arch": "resnet", "depth": 50, "groups": 32, "width_per_group": 4},
    },
    "wide_resnet50_2": {
        "ref": "torchvision.models.wide_resnet50_2()",
        "options": {"arch": "resnet", "depth": 50, "width_per_group": 128},
    },
    "seresnet50": {
        "ref": "timm.create_model('seresnet50')",
        "options": {"arch": "resnet", "depth": 50, "attn": "se@branch"},
        "key_map": _timm_se,
    },
    "resnet50d": {
        "ref": "timm.create_model('resnet50d')",
        "options": {"arch": "resnet", "depth": 50, "stem_type": "deep", "down": "avgpool"},
    },
    "cbam_resnet50": {
        "ref": "Jongchan/attention-module MODELS/model_resnet.py ResidualNet('ImageNet', 50, 1000, 'CBAM')",
        "options": {"arch": "resnet", "depth": 50, "attn": "cbam@branch"},
        "size": 224,  # the official ImageNet head is AvgPool2d(7): a 7x7 last stage
    },
    "smp_unet_resnet34": {
        "ref": "segmentation_models_pytorch.Unet('resnet34', encoder_weights=None, classes=2)",
        "options": {"arch": "unet", "encoder": "resnet34", "classes": 2},
        "key_map": _smp_unet,
    },
    "eca_resnet50": {
        "ref": "BangguWu/ECANet models/eca_resnet.py eca_resnet50(k_size=[3, 3, 3, 3])",
        "options": {"arch": "resnet", "depth": 50, "attn": "eca:kernel_size=3@branch"},
    },
}


def reference_input(name: str, in_channels: int = 3) -> torch.Tensor:
    size = REFERENCES.get(name, {}).get("size", 64)
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return torch.randn(1, in_channels, size, size, generator=generator)


def _fan_in(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:]) if len(shape) > 1 else 1


def deterministic_tensor(key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A tensor that depends only on its key and shape, scaled so that deep networks keep
    O(1) activations (weights ~ N(0, 1/fan_in), BN scales near 1, variances near 1)."""
    generator = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    if not dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return 0.5 + torch.rand(shape, generator=generator)
    if leaf == "running_mean":
        return 0.1 * torch.randn(shape, generator=generator)
    if leaf == "bias":
        return 0.1 * torch.randn(shape, generator=generator)
    if len(shape) == 1:  # norm scales
        return 0.5 + 0.5 * torch.rand(shape, generator=generator)
    return torch.randn(shape, generator=generator) / math.sqrt(_fan_in(shape))


def deterministic_state(manifest: list[tuple[str, list[int], str]]) -> dict[str, torch.Tensor]:
    """The reference's state_dict with deterministic values, from its (key, shape, dtype) list."""
    return {
        key: deterministic_tensor(key, tuple(shape), getattr(torch, dtype)) for key, shape, dtype in manifest
    }


def mapped(state: Mapping[str, torch.Tensor], key_map: Callable | None) -> dict[str, torch.Tensor]:
    """A reference state_dict renamed (and reshaped) into ours."""
    if key_map is None:
        return dict(state)
    return dict(key_map(k, v) for k, v in state.items())


def manifest_of(model: torch.nn.Module) -> list[tuple[str, list[int], str]]:
    return [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()]
