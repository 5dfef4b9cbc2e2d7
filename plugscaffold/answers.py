"""The answers file: the single record of how a project was made."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from . import __version__, inline
from .catalog import Catalog
from .errors import shorten
from .options import PROJECT_SIZE, Check
from .plan import Plan
from .smoke import SmokeResult
from .spec import MAX_SIDE, Spec

#: The largest batch a recorded project check may have.
MAX_BATCH = 4096

ANSWERS_FILE = ".plugscaffold.yml"
HEADER = "# How this project was made (plugscaffold). Regenerate with the command below.\n"


def answers(
    plan: Plan, catalog: Catalog, parameters: int | None, project: dict | None = None
) -> dict[str, Any]:
    """The record; ``project`` (see :func:`project_record`) only for a project made with --project."""
    spec = plan.spec
    data = {
        "plugscaffold_version": __version__,
        "catalog_version": catalog.version,
        "name": spec.name,
        "command": spec.command(catalog),
        "options": spec.options(),
        "modules": {entry.key: source_digest(entry.classes) for entry in plan.entries if entry.classes},
        "parameters": parameters,
    }
    if project is not None:
        check = project["check"]
        data["command"] = project_command(
            spec, catalog, Check(check["height"], check["width"], check["batch"])
        )
        data["project"] = project
    return data


def project_command(spec: Spec, catalog: Catalog, check: Check) -> str:
    """The `plugscaffold new` command that makes this training project (its size included)."""
    default = Check()
    return (
        spec.command(catalog)
        + " --project"
        + (
            ""
            if (check.height, check.width) == (PROJECT_SIZE, PROJECT_SIZE)
            else f" --size {check.size_text}"
        )
        + ("" if check.batch == default.batch else f" --batch {check.batch}")
    )


def project_record(check: Check, smoke: SmokeResult | None) -> dict[str, Any]:
    """What the project files were rendered from beyond the options: the check and its measurements."""
    measured = None
    if smoke is not None:
        measured = {
            "parameters": smoke.parameters,
            "forward_flops": smoke.forward_flops,
            "output_shape": list(smoke.output_shape),
            "shapes": {attr: list(shape) for attr, shape in smoke.shapes.items()},
            "torch_version": smoke.torch_version,
            "threads": smoke.threads,
        }
    return {
        "check": {"height": check.height, "width": check.width, "batch": check.batch},
        "measured": measured,
    }


def read_project_record(data: Any) -> tuple[Check, SmokeResult | None]:
    """The inverse of :func:`project_record`; ValueError when the record is malformed."""
    try:
        check = Check(int(data["check"]["height"]), int(data["check"]["width"]), int(data["check"]["batch"]))
        m = data["measured"]
        smoke = None
        if m is not None:
            smoke = SmokeResult(
                parameters=int(m["parameters"]),
                forward_flops=int(m["forward_flops"]),
                output_shape=tuple(m["output_shape"]),
                shapes={attr: tuple(shape) for attr, shape in m["shapes"].items()},
                seconds=0.0,  # not recorded: a wall time is the machine's, not the model's
                torch_version=str(m["torch_version"]),
                threads=int(m["threads"]),
            )
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
        raise ValueError(f"malformed project record ({shorten(str(exc))})") from None
    if not (1 <= check.height <= MAX_SIDE and 1 <= check.width <= MAX_SIDE and 1 <= check.batch <= MAX_BATCH):
        raise ValueError(
            f"the project's check size {check.height}x{check.width}, batch {check.batch}, is out of range "
            f"(1 to {MAX_SIDE} a side, batch 1 to {MAX_BATCH})"
        )
    return check, smoke


def dump_answers(data: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


#: The text of every file plugscaffold generated last, the base of ``update``'s merge.
GENERATED_FILE = ".plugscaffold-generated"
GENERATED_HEADER = (
    "# What plugscaffold generated last (JSON, zlib, base64): the base that 'plugscaffold update'\n"
    "# merges your edits against. Keep it with the project; do not edit it.\n"
)


def digest(text: str) -> str:
    """The digest of a generated file's text, as the answers file records it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def record_generated(data: dict[str, Any], files: dict[str, str]) -> dict[str, str]:
    """The answers file, with a digest of each of ``files`` (what was generated), and the
    compact copy of their text (:data:`GENERATED_FILE`), by relative path."""
    import base64
    import json
    import zlib

    data = {**data, "generated": {relative: digest(text) for relative, text in sorted(files.items())}}
    packed = zlib.compress(json.dumps(files, sort_keys=True).encode("utf-8"), 9)
    return {
        ANSWERS_FILE: dump_answers(data),
        GENERATED_FILE: GENERATED_HEADER + base64.encodebytes(packed).decode("ascii"),
    }


def read_generated(text: str) -> dict[str, str]:
    """The files in a :data:`GENERATED_FILE`'s ``text``; ValueError when it is not one."""
    import base64
    import binascii
    import json
    import zlib

    body = "".join(line for line in text.splitlines(True) if not line.startswith("#"))
    try:
        files = json.loads(zlib.decompress(base64.b64decode(body, validate=False)).decode("utf-8"))
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a record of generated files ({shorten(str(exc))})") from None
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise ValueError("not a record of generated files (not a mapping of paths to text)")
    return files


def source_digest(classes: tuple[str, ...]) -> str:
    """A short hash of the code a catalog entry inlines (changes when its implementation does)."""
    sources, _ = inline.collect(classes)
    return hashlib.sha256("\n".join(sources).encode()).hexdigest()[:12]
