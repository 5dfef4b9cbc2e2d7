"""Architecture blueprints: Spec + catalog -> Plan. One module per architecture."""

from __future__ import annotations

import dataclasses

from ..catalog import Catalog
from ..errors import PlanError
from ..plan import Plan
from ..spec import Spec
from . import unet

BLUEPRINTS = {"unet": unet.plan}


def make_plan(spec: Spec, catalog: Catalog) -> Plan:
    """Plan ``spec``; when a channel constraint fails, suggest a width that satisfies it."""
    blueprint = BLUEPRINTS[spec.arch]
    try:
        return blueprint(spec, catalog)
    except PlanError as exc:
        fix = _width_fix(spec, catalog)
        other = f"another --{exc.slot}" if exc.slot else "other modules"
        hint = f"; fix: use --width {fix} or choose {other}" if fix else f"; fix: choose {other}"
        raise PlanError(f"{exc}{hint}", slot=exc.slot) from None


def _width_fix(spec: Spec, catalog: Catalog) -> int | None:
    """The nearest base width (above, then below) for which the Spec plans cleanly."""
    candidates = sorted(range(8, 4 * spec.width + 1, 8), key=lambda w: (abs(w - spec.width), -w))
    for width in candidates:
        if width == spec.width:
            continue
        try:
            BLUEPRINTS[spec.arch](dataclasses.replace(spec, width=width), catalog)
        except PlanError:
            continue
        return width
    return None
