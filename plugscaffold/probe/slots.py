"""Which slot a probed module fits, read from the catalog (no slot is named here)."""

from __future__ import annotations

from ..catalog import Catalog
from ..errors import ProbeError, SpecError, did_you_mean
from .infer import LAYOUT_NAMES, Observed, rule_words


def _slot_rules(catalog: Catalog, slot: str) -> str:
    """'keeps' when every shipped module of ``slot`` keeps channels, 'out' when every one takes
    out_channels, else 'any': read from the catalog, so that no slot is named here."""
    rules = [e.contract.channels for e in catalog.in_slot(slot) if not e.is_user]
    if rules and all(r == "in_channels" for r in rules):
        return "keeps"
    if rules and all("out_channels" in r for r in rules):
        return "out"
    return "any"


def misfit(catalog: Catalog, observed: Observed, slot: str) -> str:
    """Why the module cannot serve ``slot`` ('' when it can)."""
    s = catalog.slots[slot]
    article = f"not {'an' if slot[0] in 'aeiou' else 'a'} {slot} module"
    if observed.inputs != s.inputs:
        return f"takes {observed.inputs} input(s): {article}"
    if observed.scale != s.scale:
        change = {0.5: "halves H and W", 2: "doubles H and W", 1: "keeps H and W"}.get(
            observed.scale, "changes H and W"
        )
        return f"{change}: {article}"
    rule = _slot_rules(catalog, slot)
    if rule == "keeps" and observed.channels != "in_channels":
        return f"changes channels {observed.example}: {article}"
    if rule == "out" and "out_channels" not in (observed.channels or ""):
        return f"does not take an output width (channels {observed.example}): {article}"
    return ""


def fit_slot(catalog: Catalog, observed: Observed, slot: str | None) -> str:
    """The slot the module goes into (``slot``, or the one that fits); ProbeError why not."""
    name = observed.cls
    if observed.layout != "NCHW":
        raise ProbeError(
            f"{name} works on {LAYOUT_NAMES[observed.layout]}, but every slot passes NCHW (B, C, H, W) "
            "feature maps: wrap it in a module that converts, then add the wrapper; nothing was written"
        )
    if observed.fixed_size:
        h, w = observed.fixed_size
        raise ProbeError(
            f"{name} works only on {h}x{w} inputs ({observed.size_failures[0]}), but a slot sees "
            "several sizes; nothing was written"
        )
    if observed.scale is None:
        raise ProbeError(f"{name} changes H and W by no single factor (/2, x1, x2); nothing was written")
    if observed.channels is None:
        raise ProbeError(
            f"{name}'s output channels follow no rule found (e.g. {observed.example}); nothing was written"
        )
    if observed.unexplained:
        raise ProbeError(f"{name}: {observed.unexplained}; nothing was written")
    fits = [s for s in catalog.slots if not misfit(catalog, observed, s)]
    if slot is None:
        if not fits:
            raise ProbeError(
                f"no slot takes {name} ({observed.inputs} input(s), spatial scale {observed.scale:g}, "
                f"channels {observed.example}: {rule_words(observed.channels)}); nothing was written"
            )
        return fits[0]
    if slot not in catalog.slots:
        raise SpecError(
            f"--slot {slot}: unknown slot{did_you_mean(slot, catalog.slots)}; "
            f"slots: {', '.join(catalog.slots)}"
        )
    why = misfit(catalog, observed, slot)
    if why:
        hint = (
            f"; use --slot {fits[0]}" + (f" (or {', '.join(fits[1:])})" if fits[1:] else "") if fits else ""
        )
        raise ProbeError(f"{name} {why}{hint}; nothing was written")
    return slot
