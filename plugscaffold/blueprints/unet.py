"""The UNet blueprint (Ronneberger et al. 2015, laid out as milesial/Pytorch-UNet).

encoder: enc1 -> down1 -> enc2 -> ... -> down{D} -> bottleneck
decoder: up{i} -> [align{i}] -> fuse{i}(x, e{i}) -> dec{i}, for i = D .. 1; then head.
Stage i works at 1 / 2**(i-1) of the input size with ``width * 2**(i-1)`` channels.
"""

from __future__ import annotations

from ..catalog import Catalog
from ..plan import Hook, Layer, Plan, Shape, hook_code, params_of, place
from ..spec import Spec


def plan(spec: Spec, catalog: Catalog) -> Plan:
    widths = [spec.width * 2**i for i in range(spec.depth + 1)]
    chosen = {slot: params_of(spec, catalog, slot) for slot in catalog.slots}
    layers: list[Layer] = []

    def add(slot: str, attr: str, stage: str, inputs: tuple[str, ...], output: str, level: int, **channels: int) -> int:
        entry, params = chosen[slot]
        placed = place(entry, params, where=f"{slot} slot at {stage}", **channels)
        layers.append(Layer(attr, placed.code, stage, inputs, output, Shape(placed.out_channels, level), _label(placed.code), entry))
        return placed.out_channels

    def block(attr: str, stage: str, inputs: tuple[str, ...], output: str, level: int, cin: int, cout: int) -> int:
        conv, conv_params = chosen["conv"]
        for a, b in ((cin, cout), (cout, cout)):  # the block's two 3x3 convolutions
            place(conv, conv_params, where=f"conv slot at {stage}", in_channels=a, out_channels=b)
        channels = add("block", attr, stage, inputs, output, level, in_channels=cin, out_channels=cout)
        if chosen["attn"][0] is not None:
            add("attn", f"{attr}_attn", stage, (output,), output, level, in_channels=channels)
        return channels

    # Encoder: a block per stage, then downsampling; the block doubles the channels.
    channels = spec.in_channels
    source = "x"
    for i in range(1, spec.depth + 1):
        stage = f"encoder {i}"
        channels = block(f"enc{i}", stage, (source,), f"e{i}", i - 1, channels, widths[i - 1])
        channels = add("down", f"down{i}", stage, (f"e{i}",), "x", i, in_channels=channels, out_channels=channels)
        source = "x"
    channels = block("bottleneck", "bottleneck", ("x",), "x", spec.depth, channels, widths[spec.depth])

    # Decoder: upsample, align channels if the fusion needs it, fuse with the skip, block.
    skip_entry, _ = chosen["skip"]
    for i in range(spec.depth, 0, -1):
        stage = f"decoder {i}"
        skip = widths[i - 1]
        channels = add("up", f"up{i}", stage, ("x",), "x", i - 1, in_channels=channels, out_channels=skip)
        if skip_entry.contract.align == "equal" and channels != skip:
            reason = f"{skip_entry.name} needs equal inputs: upsampled {channels} vs skip {skip}"
            layers.append(
                Layer(f"align{i}", f"nn.Conv2d({channels}, {skip}, kernel_size=1)", stage, ("x",), "x",
                      Shape(skip, i - 1), "nn.Conv2d", None, f"1x1 projection: {reason}")
            )  # fmt: skip
            channels = skip
        channels = add("skip", f"fuse{i}", stage, ("x", f"e{i}"), "x", i - 1, in_channels=channels, skip_channels=skip)
        channels = block(f"dec{i}", stage, ("x",), "x", i - 1, channels, skip)

    layers.append(
        Layer("head", f"nn.Conv2d({channels}, {spec.classes}, kernel_size=1)", "head", ("x",), "x",
              Shape(spec.classes, 0), "nn.Conv2d")
    )  # fmt: skip
    hooks = tuple(
        Hook(slot.hook, hook_code(*chosen[name]), chosen[name][0])
        for name, slot in catalog.slots.items()
        if slot.hook
    )
    picks = ", ".join(f"{c.slot} {c.text}" for c in spec.choices if c.text != catalog.slots[c.slot].default)
    return Plan(
        spec=spec,
        class_name="UNet",
        doc=f"UNet: encoder {'-'.join(map(str, widths[:-1]))}, bottleneck {widths[-1]}, mirrored decoder with skips.",
        summary=f"UNet, depth {spec.depth}, width {spec.width}" + (f"; {picks}" if picks else ""),
        layers=tuple(layers),
        hooks=hooks,
        helpers=("pad_to_multiple",),
        input=Shape(spec.in_channels, 0),
        divisor=2**spec.depth,
        result="x",
    )


def _label(code: str) -> str:
    return code.split("(", 1)[0]
