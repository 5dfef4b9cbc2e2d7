"""One exception hierarchy. Every message is a single sentence a user can act on."""

from __future__ import annotations

import difflib
from typing import Iterable


class PlugscaffoldError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits 1."""


class CatalogError(PlugscaffoldError):
    """catalog.yaml (or a user catalog) is malformed."""


class SpecError(PlugscaffoldError):
    """The options do not describe a valid model (unknown name, bad value)."""


class PlanError(PlugscaffoldError):
    """The options are valid one by one but cannot be wired together."""

    def __init__(self, message: str, slot: str | None = None) -> None:
        super().__init__(message)
        self.slot = slot


class TargetError(PlugscaffoldError):
    """The output location is unsafe or already taken."""


class SmokeError(PlugscaffoldError):
    """The generated model failed its smoke check."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest candidate, or ''."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
