"""What a model is generated as and how it is checked, and the parsing of the options that say so.

One home for the options of :func:`plugscaffold.pipeline.generate`: :class:`Output` (what is
made and whether it is written), :class:`Check` (size, batch, time limit), the training
project's default size, and the parsers of ``--size`` and ``--timeout``, shared by the CLI,
the copier extension, ``update``, homework specs and ablation studies. The runner that uses a
Check is :mod:`plugscaffold.smoke`; the Plan only reads one, so neither imports the other here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum

from .errors import SpecError
from .spec import MAX_SIDE

#: The image size of a training project (--project) when --size is not given: its check runs at
#: the size it trains at, and train.py, data.py and its README use it.
PROJECT_SIZE = 256

#: The longest --timeout, in seconds.
MAX_TIMEOUT = 86400.0


class Output(Enum):
    """What ``generate`` makes and whether it writes it: one value, as black's ``WriteBack``.

    Every member renders its files into ``Generated.contents`` (model.py, the answers file and,
    for a project, train.py, data.py, tests and README). The WRITE members also write them, all
    or nothing, to a new folder ``parent/name`` (``generate(..., replace=True)`` replaces an
    existing one, as ``new --force``). The check is a separate switch (``smoke``).
    """

    RENDER = "render"  # model.py and the answers, nothing written (new --stdout)
    RENDER_PROJECT = "render-project"  # the training project, nothing written (update, homework, ablate)
    WRITE = "write"  # model.py and the answers written (new)
    WRITE_PROJECT = "write-project"  # the training project written (new --project)

    @property
    def project(self) -> bool:
        """The training project around model.py is made (its check runs at PROJECT_SIZE)."""
        return self in (Output.RENDER_PROJECT, Output.WRITE_PROJECT)

    @property
    def writes(self) -> bool:
        return self in (Output.WRITE, Output.WRITE_PROJECT)


@dataclass(frozen=True)
class Check:
    """How to run the check: input size, batch and a time limit in seconds.

    Without a size (``height`` and ``width`` None) the check runs at the smallest input that
    exercises every stage of the Plan (:func:`plugscaffold.plan.fit_check` chooses it, and marks
    the result ``auto``).
    """

    height: int | None = None
    width: int | None = None
    batch: int = 2
    timeout: float = 600.0
    auto: bool = False  # the size was chosen by fit_check, not given

    @property
    def sized(self) -> bool:
        return self.height is not None and self.width is not None

    @property
    def size_text(self) -> str:
        """The size as --size takes it: 'H' when square, else 'HxW'."""
        return f"{self.height}" if self.height == self.width else f"{self.height}x{self.width}"

    def padded(self, divisor: int) -> tuple[int, int]:
        """The size the model works at inside (rounded up to multiples of ``divisor``)."""
        return (-(-self.height // divisor) * divisor, -(-self.width // divisor) * divisor)


def parse_size(text: str) -> tuple[int, int]:
    """'256' -> (256, 256), '96x128' -> (96, 128); anything else is one line."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[x,]\s*(\d+)\s*)?", text)
    if not match:
        raise SpecError(f"--size '{text}' is not a size; use H or HxW, e.g. 256 or 96x128")
    height = int(match.group(1))
    width = int(match.group(2) or height)
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise SpecError(f"--size {height}x{width} must be between 1 and {MAX_SIDE} on each side")
    return height, width


def check_timeout(seconds: float) -> None:
    """--timeout is a finite number of seconds above 0 (argparse lets nan, inf and 1e400 through)."""
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise SpecError(
            f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, got {seconds}"
        )
