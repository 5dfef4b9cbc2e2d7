"""The report a person reads at a glance after ``plugscaffold new``."""

from __future__ import annotations

import os
from pathlib import Path

from . import blueprints
from .catalog import Catalog, license_notice
from .pipeline import Generated
from .plan import chosen_plugins, working_size


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M', and with ``unit`` 'B' 1234 -> '1.23 KB': FLOP, parameter and byte
    counts in the report, the training project's README and the ablation tables."""
    for prefix, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {prefix}{unit}"
    return f"{int(n)} {unit}".rstrip()


def table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def format_report(gen: Generated, catalog: Catalog) -> str:
    plan, smoke, check = gen.plan, gen.smoke, gen.check
    lines = [f"{plan.spec.name}: {plan.summary}", ""]

    chosen = chosen_plugins(plan, catalog)
    if chosen:
        lines.append("Plug-ins")
        lines += table([[e.slot, e.name, e.title, e.citation or "-", e.link or "-"] for e in chosen])
        if license_notice(chosen):
            lines.append(f"Licence      {license_notice(chosen)}")
    else:
        lines.append("Plug-ins     none: the classic architecture")
    lines.append("")

    if smoke:
        h, w = working_size(plan, check)
        chosen = " (the smallest that exercises every stage; --size checks yours)" if check.auto else ""
        lines.append(
            f"Shapes (B, C, H, W) in the smoke check: batch {check.batch}, "
            f"{check.height}x{check.width} input{chosen}"
        )
        rows = [["stage", "layer", "module", "shape"]]
        rows.append(["input", "", "", str((check.batch, plan.input.channels, check.height, check.width))])
        if (h, w) != (check.height, check.width):
            rows.append(
                ["input", "(padded)", "pad_to_multiple", str((check.batch, plan.input.channels, h, w))]
            )
        rows += [[lay.stage, lay.attr, lay.module, str(smoke.shapes[lay.attr])] for lay in plan.layers]
    else:
        lines.append("Shapes (B, C, H, W) as planned (smoke check skipped)")
        rows = [["stage", "layer", "module", "shape"], ["input", "", "", plan.input.text]]
        rows += [[lay.stage, lay.attr, lay.module, lay.shape.text] for lay in plan.layers]
    lines += table(rows)
    lines.append("")

    projections = plan.projections
    lines.append(f"Projections  {len(projections) or 'none'}")
    lines += [f"  {attr}: {note}" for attr, note in projections]
    if smoke:
        lines.append(f"Parameters   {smoke.parameters:,} ({human(smoke.parameters)})")
        lines.append(
            f"FLOPs        {human(smoke.forward_flops)}FLOPs per forward pass at the check size "
            f"(FlopCounterMode's formulas: convolutions and matmuls, 2 FLOPs per multiply-add)"
        )
        lines.append(
            f"Check        output {smoke.output_shape}: forward and backward passed, "
            "output and gradients finite, every layer's shape as planned "
            f"({smoke.seconds:.1f} s, torch {smoke.torch_version}, {smoke.threads} threads)"
        )
        if smoke.baseline:
            lines.append("Baseline     " + _comparison(plan, smoke))
    else:
        lines.append("Check        skipped (--no-smoke)")
    if gen.files:
        lines.append("Files        " + "\n             ".join(_relative(p) for p in gen.files))
        if "train.py" in gen.contents:
            where = _relative(gen.files[0].parent)
            lines.append(f"Next         cd {where} && python train.py   (tests: python -m pytest)")
    return "\n".join(lines)


def _comparison(plan, smoke) -> str:
    base = smoke.baseline
    spec = plan.spec
    blueprint = blueprints.get(spec.arch)
    sizes = ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in spec.sizes if k not in ("in_channels", "classes")
    )

    def change(new: float, old: float) -> str:
        return f"{(new - old) / old:+.1%}" if old else "n/a"

    return (
        f"the default {blueprint.title} of the same size ({sizes}) has "
        f"{base['parameters']:,} parameters and {human(base['forward_flops'])}FLOPs: "
        f"parameters {human(base['parameters'])} -> {human(smoke.parameters)} "
        f"({change(smoke.parameters, base['parameters'])}), "
        f"FLOPs {human(base['forward_flops'])} -> {human(smoke.forward_flops)} "
        f"({change(smoke.forward_flops, base['forward_flops'])})"
    )


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
