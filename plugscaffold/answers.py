"""The answers file: the single record of how a project was made."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import __version__, inline
from .catalog import Catalog
from .errors import SpecError, TargetError, shorten
from .options import PROJECT_SIZE, Check
from .plan import Plan
from .smoke import SmokeResult
from .spec import MAX_SIDE, PLACED_SLOT, Spec
from .yamlfile import read_yaml

#: The largest batch a recorded project check may have.
MAX_BATCH = 4096

ANSWERS_FILE = ".plugscaffold.yml"
HEADER = "# How this project was made (plugscaffold). Regenerate with the command below.\n"
#: What a damaged answers file's error says to do.
FIX = "restore it from version control"


@dataclass(frozen=True)
class Answers:
    """The answers file (:data:`ANSWERS_FILE`), like copier's ``Subproject``: how a project was
    made. :meth:`load` reads and checks it (one line when it is damaged), :meth:`dump` writes it.

    ``options`` and ``name`` regenerate the model; ``modules`` holds a digest of each plug-in's
    inlined source (``update --upgrade-modules`` tells a changed implementation by it);
    ``project`` is :func:`project_record`'s record for a --project; ``generated`` the digest of
    each generated file (None in a project made before they were recorded).
    """

    name: str
    options: dict[str, Any]
    parameters: int | None
    modules: dict[str, str] = field(default_factory=dict)
    command: str = ""
    plugscaffold_version: str | None = None
    catalog_version: str | None = None
    project: dict[str, Any] | None = None
    generated: dict[str, str] | None = None

    def dump(self) -> str:
        """The file's text (keys in the order a reader wants them, project and digests last)."""
        data: dict[str, Any] = {
            "plugscaffold_version": self.plugscaffold_version,
            "catalog_version": self.catalog_version,
            "name": self.name,
            "command": self.command,
            "options": self.options,
            "modules": self.modules,
            "parameters": self.parameters,
        }
        if self.project is not None:
            data["project"] = self.project
        if self.generated is not None:
            data["generated"] = self.generated
        return HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)

    @classmethod
    def load(cls, directory: Path) -> Answers:
        """The recorded answers of the project in ``directory``, checked enough to regenerate
        from them; TargetError when there is none, SpecError (one line) when it is damaged."""
        path = directory / ANSWERS_FILE
        if not directory.is_dir():
            raise TargetError(f"{directory} is not a directory")
        if not os.path.lexists(path):
            raise TargetError(
                f"{directory} has no {ANSWERS_FILE}, so it was not made by plugscaffold (or the file was "
                "deleted); generate a project with 'plugscaffold new' first"
            )
        data = read_yaml(path, fix=FIX)
        required = {"name": str, "options": dict, "parameters": (int, type(None)), "modules": dict}
        if not isinstance(data, dict):
            raise SpecError(f"{path} is corrupted (not a mapping); {FIX}")
        for key, kind in required.items():
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise SpecError(f"{path} is corrupted ('{key}' is missing or malformed); {FIX}")
        for key, value in [*data["options"].items(), *data["modules"].items()]:
            plain = isinstance(value, (str, int)) or (
                key == PLACED_SLOT and isinstance(value, list) and all(isinstance(v, str) for v in value)
            )
            if not isinstance(key, str) or not plain:
                raise SpecError(
                    f"{path} is corrupted ('{shorten(key)}: {shorten(value)}' is malformed); {FIX}"
                )
        generated = data.get("generated")
        return cls(
            name=data["name"],
            options=data["options"],
            parameters=data["parameters"],
            modules=data["modules"],
            command=str(data.get("command") or ""),
            plugscaffold_version=data.get("plugscaffold_version"),
            catalog_version=data.get("catalog_version"),
            project=data.get("project"),  # checked where it is read (read_project_record)
            generated=generated if isinstance(generated, dict) else None,
        )


def answers(plan: Plan, catalog: Catalog, parameters: int | None, project: dict | None = None) -> Answers:
    """The record; ``project`` (see :func:`project_record`) only for a project made with --project."""
    spec = plan.spec
    command = spec.command(catalog)
    if project is not None:
        check = project["check"]
        command = project_command(spec, catalog, Check(check["height"], check["width"], check["batch"]))
    return Answers(
        plugscaffold_version=__version__,
        catalog_version=catalog.version,
        name=spec.name,
        command=command,
        options=spec.options(),
        modules={entry.key: source_digest(entry.classes) for entry in plan.entries if entry.classes},
        parameters=parameters,
        project=project,
    )


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


#: The text of every file plugscaffold generated last, the base of ``update``'s merge.
GENERATED_FILE = ".plugscaffold-generated"
GENERATED_HEADER = (
    "# What plugscaffold generated last (JSON, zlib, base64): the base that 'plugscaffold update'\n"
    "# merges your edits against. Keep it with the project; do not edit it.\n"
)


def digest(text: str) -> str:
    """The digest of a generated file's text, as the answers file records it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def record_generated(data: Answers, files: dict[str, str]) -> dict[str, str]:
    """The answers file, with a digest of each of ``files`` (what was generated), and the
    compact copy of their text (:data:`GENERATED_FILE`), by relative path."""
    import base64
    import json
    import zlib

    data = replace(data, generated={relative: digest(text) for relative, text in sorted(files.items())})
    packed = zlib.compress(json.dumps(files, sort_keys=True).encode("utf-8"), 9)
    return {
        ANSWERS_FILE: data.dump(),
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
