"""The report a person reads at a glance after ``plugscaffold new``."""

from __future__ import annotations

import os
from pathlib import Path

from .pipeline import Generated


def human(n: float) -> str:
    """1234567 -> '1.23 M'; FLOP and parameter counts in the report."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return str(int(n))


def table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def format_report(gen: Generated) -> str:
    plan, smoke, check = gen.plan, gen.smoke, gen.check
    lines = [f"{plan.spec.name}: {plan.summary}", ""]

    cited = [e for e in plan.entries if e.paper]
    if cited:
        lines.append("Plug-ins")
        lines += table([[e.slot, e.name, e.title, e.citation, e.link] for e in cited])
        lines.append("")

    if smoke:
        h, w = check.padded(plan.divisor)
        lines.append(f"Shapes (B, C, H, W) in the smoke check: batch {check.batch}, {check.height}x{check.width} input")
        rows = [["stage", "layer", "module", "shape"]]
        rows.append(["input", "", "", str((check.batch, plan.input.channels, check.height, check.width))])
        if (h, w) != (check.height, check.width):
            rows.append(["input", "(padded)", "pad_to_multiple", str((check.batch, plan.input.channels, h, w))])
        rows += [[lay.stage, lay.attr, lay.module, str(smoke.shapes[lay.attr])] for lay in plan.layers]
    else:
        lines.append("Shapes (B, C, H, W) as planned (smoke check skipped)")
        rows = [["stage", "layer", "module", "shape"], ["input", "", "", plan.input.text]]
        rows += [[lay.stage, lay.attr, lay.module, lay.shape.text] for lay in plan.layers]
    lines += table(rows)
    lines.append("")

    projections = plan.projections
    lines.append(f"Projections  {len(projections) or 'none'}")
    lines += [f"  {p.attr}: {p.comment}" for p in projections]
    if smoke:
        lines.append(f"Parameters   {smoke.parameters:,} ({human(smoke.parameters)})")
        lines.append(
            f"FLOPs        {human(smoke.forward_flops)}FLOPs forward, {human(smoke.total_flops)}FLOPs forward + backward "
            f"(FlopCounterMode: convolutions and matmuls, 2 FLOPs per multiply-add)"
        )
        lines.append(
            f"Check        output {smoke.output_shape}: forward and backward passed, output and gradients finite, "
            f"every layer's shape as planned ({smoke.seconds:.1f} s, torch {smoke.torch_version}, {smoke.threads} threads)"
        )
    else:
        lines.append("Check        skipped (--no-smoke)")
    if gen.files:
        lines.append("Files        " + "\n             ".join(_relative(p) for p in gen.files))
    return "\n".join(lines)


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
