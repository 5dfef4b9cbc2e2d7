"""``add --check``: probe catalog entries as declared and say where behaviour disagrees."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

from .. import expr, inline
from ..catalog import Entry
from .infer import Limits, channels_of, runtime_effect, scale_of, stop_message
from .observe import run_worker


def _literal(value: Any) -> str:
    from ..plan import literal

    return literal(value)


def check_job(entry: Entry, folder: Path) -> dict[str, Any]:
    """A worker job probing ``entry`` as the catalog declares it (its build, at small widths)."""
    sources, imports = inline.collect(entry.classes) if entry.classes else ([], [])
    base = ["import math", "import torch", "import torch.nn as nn", "import torch.nn.functional as F"]
    text = "\n".join(inline.sort_imports([*imports, *base]) + ["", ""] + sources) + "\n"
    file = folder / f"{entry.slot}_{entry.name}.py"
    file.write_text(text, encoding="utf-8")
    params = {k: _literal(p.default) for k, p in entry.params.items()}
    build = entry.build.format(
        **params, in_channels="{in_channels}", out_channels="{out_channels}", skip_channels="{skip_channels}"
    )
    defaults = {k: p.default for k, p in entry.params.items()}
    base_width = next((w for w in (32, 64, 128, 16) if _allowed(entry, defaults, w, w, w)), 32)
    side = 16
    if entry.contract.min_size:
        env = {**defaults, "in_channels": base_width, "out_channels": base_width, "skip_channels": base_width}
        side = max(side, int(expr.evaluate(entry.contract.min_size.size, env)))
    side = -(-side // 8) * 8
    trials = [[w, w, w] for w in (8, 16, 32, 64)] + [[32, 48, 32], [48, 32, 48], [32, 32, 16]]
    return {
        "file": str(file), "class": entry.classes[0] if entry.classes else "Module", "build": build,
        "inputs": entry.contract.inputs, "layout": "NCHW", "widths": trials, "base_width": base_width,
        "base_sizes": [[side, side]], "sizes": [[side, side], [2 * side, 2 * side], [side, side + 8]],
    }  # fmt: skip


def _allowed(entry: Entry, params: Mapping[str, Any], c: int, d: int, s: int) -> bool:
    env = {**params, "in_channels": c, "out_channels": d, "skip_channels": s}
    return all(expr.evaluate(x.check, env) for x in entry.contract.constraints)


def compare(entry: Entry, record: Mapping[str, Any], limits: Limits) -> list[str]:
    """How ``entry``'s declared contract and the probe disagree ([] when they agree)."""
    stop = record.get("stop")
    if stop:
        return [
            stop_message(stop, entry.classes[0] if entry.classes else entry.name, entry.build, limits, "")
        ]
    problems = []
    c = entry.contract
    defaults = {k: p.default for k, p in entry.params.items()}
    observed_scale = scale_of(record)
    if observed_scale != c.scale:
        problems.append(f"scale: declared {c.scale}, observed {observed_scale}")
    for t in record["widths"]:
        allowed = _allowed(entry, defaults, t["in"], t["out_arg"], t["skip"])
        at = f"in={t['in']}, out={t['out_arg']}" + (f", skip={t['skip']}" if c.inputs == 2 else "")
        if c.align == "equal" and t["skip"] != t["in"]:
            continue  # the plan inserts a projection before such a module
        if not t["ok"]:
            if allowed:
                problems.append(f"fails at {at}, which the contract allows: {t['error'][:160]}")
            continue
        env = {**defaults, "in_channels": t["in"], "out_channels": t["out_arg"], "skip_channels": t["skip"]}
        declared = expr.evaluate(c.channels, env)
        got = channels_of(t["out"], "NCHW")
        if got != declared:
            problems.append(f"channels at {at}: declared {c.channels} = {declared}, observed {got}")
    for t in record["sizes"]:
        if not t["ok"]:
            problems.append(
                f"fails at {t['size'][0]}x{t['size'][1]} (at least the declared minimum size): "
                f"{t['error'][:160]}"
            )
    blocking = [e for e in map(runtime_effect, record.get("effects", [])) if e.blocking or e.kind == "print"]
    problems += [f"side effect: {e.detail}" for e in blocking]
    return problems


def check_entries(entries: list[Entry], limits: Limits) -> dict[str, list[str]]:
    """Probe every entry in one worker; the disagreements per entry key."""
    with tempfile.TemporaryDirectory(prefix="plugscaffold-check-") as tmp:
        jobs = [check_job(e, Path(tmp)) for e in entries]
        result = run_worker(jobs, limits)
    return {e.key: compare(e, r, limits) for e, r in zip(entries, result["jobs"])}
