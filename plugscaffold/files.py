"""Writing projects: target checks and atomic writes (stage in a temp dir, then rename)."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from .errors import TargetError


def check_target(parent: Path, name: str, force: bool) -> Path:
    """The project directory ``parent/name``; refuse a taken path unless ``force``."""
    if not parent.is_dir():
        raise TargetError(f"output directory {parent} does not exist; create it or pass another --dir")
    target = parent.resolve() / name
    if target.exists() and not target.is_dir():
        raise TargetError(f"{target} exists and is not a directory; choose another project name")
    if target.exists() and not force:
        raise TargetError(f"{target} already exists; pass --force to regenerate its files (others are kept)")
    return target


@contextmanager
def staging(parent: Path | None) -> Iterator[Path]:
    """A temporary directory (next to the target when ``parent`` is given), always removed."""
    stage = Path(tempfile.mkdtemp(prefix=".plugscaffold-", dir=parent))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def commit(stage: Path, target: Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` into ``stage``, then move them into ``target`` atomically.

    A new target appears in one rename, complete. An existing one (``--force``) has
    each generated file replaced by ``os.replace``; files it does not generate stay.
    """
    for relative, text in files.items():
        path = stage / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not target.exists():
        fresh = stage / f".new-{target.name}"
        fresh.mkdir()
        for relative in files:
            (fresh / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / relative, fresh / relative)
        os.rename(fresh, target)
    else:
        for relative in files:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / relative, target / relative)
    return [target / relative for relative in files]
