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


class UpdateConflict(PlugscaffoldError):
    """Both your edits and the update changed the same lines of some files."""


class MergeFailsCheck(PlugscaffoldError):
    """The merged model.py (the update with the user's edits) fails the smoke check."""


class DeployError(PlugscaffoldError):
    """A deployment check could not be run (a missing package, a crashed or stopped worker)."""


class ProbeError(PlugscaffoldError):
    """The class cannot be probed or added (the message says why; nothing is written)."""


class StudyError(PlugscaffoldError):
    """The study file or the short form is wrong (one line naming the file and the line)."""


class WorkerDied(PlugscaffoldError):
    """The measuring process ended (killed, or crashed in native code) while it measured a variant."""


class HomeworkError(PlugscaffoldError):
    """The homework could not be generated or graded (one line, like every other error)."""


class GradingStopped(HomeworkError):
    """A signal stopped grading; every submission process was ended."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest candidate, or ''."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def shorten(value: object, limit: int = 80) -> str:
    """``value`` as text for an error message: one line, at most ``limit`` characters.

    Containers are summarised with :mod:`reprlib` (which never expands a deeply shared
    structure such as a YAML alias bomb); strings have control characters escaped.
    """
    if isinstance(value, str):
        text = value
    else:
        import reprlib

        short = reprlib.Repr()
        short.maxlevel, short.maxstring, short.maxother = 3, limit, limit
        text = short.repr(value)
    text = (
        text.encode("unicode_escape", "backslashreplace").decode("ascii") if not text.isprintable() else text
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(message: str, limit: int = 1000) -> str:
    """A message printed by the CLI: newlines and other control characters escaped, bounded."""
    if not message.isprintable():
        message = "".join(
            c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message
        )
    return message if len(message) <= limit else message[: limit - 3] + "..."
