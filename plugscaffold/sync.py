"""Files derived from catalog.yaml and kept in the repository: copier.yml and docs/catalog.md.

Refresh them after editing the catalog with ``python -m plugscaffold.sync``; a test fails
when either is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from .catalog import Catalog, load_catalog
from .choice import CHOICE_SYNTAX
from .project import PROJECT_FILES
from .spec import DEFAULT_POSITIONS, PLACED_SLOT, POSITIONS, _SIZES

ROOT = Path(__file__).resolve().parent.parent


def copier_config(catalog: Catalog) -> str:
    """copier.yml: questions that mirror ``plugscaffold new``, choices from the catalog."""
    questions: dict = {
        "_subdirectory": "templates/copier",
        "_jinja_extensions": ["plugscaffold.copier_ext.PlugscaffoldExtension"],
        "_answers_file": ".copier-answers.yml",
        "name": {
            "type": "str",
            "help": "Project name (letters, digits and _, starting with a letter)",
            "validator": "{{ plugscaffold_check('name') }}",
        },
        "arch": {"type": "str", "help": "Architecture", "choices": ["unet"], "default": "unet"},
        "in_channels": {"type": "int", "help": "Input channels", "default": _SIZES["in_channels"][0]},
        "classes": {"type": "int", "help": "Output channels (classes)", "default": _SIZES["classes"][0]},
        "depth": {"type": "int", "help": "Encoder stages", "default": _SIZES["depth"][0]},
        "factor": {
            "type": "int",
            "help": "2: bottleneck and decoder blocks at half width (milesial's bilinear UNet); 1: classic",
            "choices": [1, 2],
            "default": _SIZES["factor"][0],
        },
    }
    for slot in catalog.slots.values():
        if slot.name == PLACED_SLOT:
            positions = ", ".join(POSITIONS["unet"])
            questions[slot.name] = {
                "type": "str",
                "help": f"Attention: EXPR[@POSITIONS], several separated by ';' (e.g. se+cbam^@dec; msca@down), "
                f"or none. Modules: {', '.join(sorted(e.name for e in catalog.in_slot(slot.name)))}. "
                f"Positions: {positions} (default {','.join(DEFAULT_POSITIONS)})",
                "default": "none",
            }
            continue
        questions[slot.name] = {
            "type": "str",
            "help": slot.help[0].upper() + slot.help[1:],
            "choices": catalog.choices(slot.name),
            "default": slot.default,
        }
        questions[f"{slot.name}_params"] = {
            "type": "str",
            "help": f"Hyper-parameters of {{{{ {slot.name} }}}} as KEY=VALUE,... (empty: defaults; "
            f"'plugscaffold show {{{{ {slot.name} }}}}' lists them)",
            "default": "",
            "when": f"{{{{ plugscaffold_has_params('{slot.name}', {slot.name}) }}}}",
            "validator": f"{{{{ plugscaffold_check('{slot.name}') }}}}",
        }
    questions["width"] = {
        "type": "int",
        "help": "Channels of the first stage (the whole model is checked here)",
        "default": _SIZES["width"][0],
        "validator": "{{ plugscaffold_check('model') }}",
    }
    questions["project"] = {
        "type": "bool",
        "help": "Add the training project: " + ", ".join(PROJECT_FILES),
        "default": False,
    }
    questions["smoke"] = {"type": "bool", "help": "Run the smoke check (forward + backward)", "default": True}
    questions["size"] = {
        "type": "str",
        "help": "Input size of the smoke check (H or HxW; empty: the smallest that exercises every stage, "
        "256 for a training project)",
        "default": "",
    }
    header = (
        "# Generated from catalog.yaml by `python -m plugscaffold.sync`; do not edit by hand.\n"
        f"# Slot choices take the hyper-parameters of their *_params question ({CHOICE_SYNTAX}).\n"
    )
    return header + yaml.safe_dump(questions, sort_keys=False, width=120)


def catalog_page(catalog: Catalog) -> str:
    """docs/catalog.md: every module with provenance, contract and reference figures."""
    lines = [
        "# The plugscaffold catalog",
        "",
        f"Catalog version {catalog.version}. Generated from `catalog.yaml` by `python -m plugscaffold.sync`;",
        "`plugscaffold show NAME` prints the same and the code that would be emitted.",
        "",
    ]
    for slot in catalog.slots.values():
        lines += [f"## {slot.name}: {slot.help}", "", f"Default: `{slot.default}`.", ""]
        lines += [
            "| name | title | paper | code (the authors') / follows | licence | channels | constraints | parameters |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for e in catalog.in_slot(slot.name):
            paper = f"{e.paper['title']} ({e.citation})" if e.paper else "-"
            links = [
                f"{'' if url == e.code else 'follows '}[{url.removeprefix('https://github.com/')}]({url})"
                for url in (e.code, e.reference_code)
                if url
            ]
            code = " / ".join(links)
            checks = [f"`{c.check}`: {c.reason}" for c in e.contract.constraints]
            if e.contract.min_size:
                checks.append(f"H, W >= `{e.contract.min_size.size}`: {e.contract.min_size.reason}")
            constraints = "; ".join(checks) or "-"
            refs = (
                "; ".join(
                    f"{r.params:,} at {', '.join(f'{k}={v}' for k, v in r.config.items())}"
                    for r in e.reference
                )
                or "-"
            )
            lines.append(
                f"| `{e.name}` | {e.title} | {paper} | {code} | {e.license} | `{e.contract.channels}` | {constraints} | {refs} |"
            )
        lines.append("")
    return "\n".join(lines)


TARGETS = {"copier.yml": copier_config, "docs/catalog.md": catalog_page}


def main() -> int:
    catalog = load_catalog()
    for relative, make in TARGETS.items():
        path = ROOT / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make(catalog), encoding="utf-8")
        print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
