"""A small on-disk cache of derived values, keyed by a hash of everything they derive from.

It holds what is costly to recompute and fully determined by its inputs: the black-formatted
text of a plug-in source (render.py), the baseline model's parameters and FLOPs (smoke.py) and
the YAML data of a catalog file (catalog/__init__.py).
An entry's name is the SHA-256 of its inputs, so a changed input is a new entry and a stale
one is never read. The cache is an optimisation only: a missing, unreadable or unwritable
cache directory just means recomputing.

Location: ``$PLUGSCAFFOLD_CACHE_DIR``, else ``$XDG_CACHE_HOME/plugscaffold``, else
``~/.cache/plugscaffold``. Deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from functools import lru_cache
from pathlib import Path

from .files import replacing


def cache_dir() -> Path:
    explicit = os.environ.get("PLUGSCAFFOLD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "plugscaffold"


@lru_cache(maxsize=None)
def installed_version(distribution: str) -> str:
    """The version of an installed distribution (black, torch), read from the name of its
    ``.dist-info`` folder on ``sys.path`` as the import system would find it: importing the
    package, or importlib.metadata, costs a tenth of a second that a cache lookup must not."""
    wanted = re.compile(rf"{re.escape(distribution)}-([^-]+)\.(?:dist|egg)-info", re.IGNORECASE)
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            match = wanted.fullmatch(name)
            if match:
                return match.group(1)
    return "unknown"


def key(*parts: str) -> str:
    """The SHA-256 of ``parts`` (each length-prefixed, so no two part lists collide)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


def read(kind: str, name: str) -> str | None:
    """The cached text of entry ``name`` in ``kind``, or None."""
    try:
        return (cache_dir() / kind / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def write(kind: str, name: str, text: str) -> None:
    """Store ``text`` atomically (a reader sees the old entry, or none, or the whole new one)."""
    folder = cache_dir() / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with replacing(folder / name) as temporary:
            temporary.write_text(text, encoding="utf-8")
    except OSError:
        pass  # a read-only or full disk: the value is recomputed next time
