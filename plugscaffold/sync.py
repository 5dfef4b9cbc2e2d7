"""Files derived from catalog.yaml and kept in the repository: copier.yml and docs/catalog.md.

Refresh them after editing the catalog with ``python -m plugscaffold.sync``; a test fails
when either is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from . import blueprints
from .catalog import Catalog, Slot, load_catalog
from .choice import CHOICE_SYNTAX
from .project import PROJECT_FILES
from .spec import PLACED_SLOT

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
        "arch": {
            "type": "str",
            "help": "Architecture",
            "choices": blueprints.names(),
            "default": blueprints.default_arch(),
        },
    }
    sized = ("width",)  # asked last: its validator checks the whole model
    for name, takers in blueprints.all_options().items():
        if name in sized:
            continue
        questions[name] = _option_question(takers)
    for slot in catalog.slots.values():
        questions.update(_slot_questions(catalog, slot))
    for name in sized:
        question = _option_question(blueprints.all_options()[name])
        question["help"] += " (the whole model is checked here)"
        questions[name] = {**question, "validator": "{{ plugscaffold_check('model') }}"}
    questions.update(_output_questions())
    header = (
        "# Generated from catalog.yaml by `python -m plugscaffold.sync`; do not edit by hand.\n"
        f"# Slot choices take the hyper-parameters of their *_params question ({CHOICE_SYNTAX}).\n"
    )
    return header + yaml.safe_dump(questions, sort_keys=False, width=120)


def _slot_questions(catalog: Catalog, slot: Slot) -> dict[str, dict]:
    """A slot's questions: its module and that module's hyper-parameters (attention: its
    placements, one question)."""
    if slot.name == PLACED_SLOT:
        return {slot.name: _attention_question(catalog, slot)}
    return {
        slot.name: {
            "type": "str",
            "help": slot.help[0].upper() + slot.help[1:],
            "choices": catalog.choices(slot.name),
            "default": _slot_default(slot.name, slot.default),
            **_uses(slot.name),
        },
        f"{slot.name}_params": {
            "type": "str",
            "help": f"Hyper-parameters of {{{{ {slot.name} }}}} as KEY=VALUE,... (empty: defaults; "
            f"'plugscaffold show {{{{ {slot.name} }}}}' lists them)",
            "default": "",
            "when": f"{{{{ {_uses(slot.name, 'and ')}"
            f"plugscaffold_has_params('{slot.name}', {slot.name}) }}}}",
            "validator": f"{{{{ plugscaffold_check('{slot.name}') }}}}",
        },
    }


def _attention_question(catalog: Catalog, slot: Slot) -> dict:
    """The attention placements as one text, with the modules and each architecture's positions."""
    positions = "; ".join(
        f"{bp.name}: {', '.join(bp.positions)} (default {','.join(bp.default_positions)})"
        for bp in blueprints.registry().values()
        if bp.positions
    )
    return {
        "type": "str",
        "help": f"Attention: EXPR[@POSITIONS], several separated by ';' (e.g. se+cbam^@dec; msca@down), "
        f"or none. Modules: {', '.join(sorted(e.name for e in catalog.in_slot(slot.name)))}. "
        f"Positions: {positions}",
        "default": "none",
        **_uses(slot.name),
    }


def _output_questions() -> dict[str, dict]:
    """What to generate besides model.py and how to check it: project, smoke check, its size."""
    return {
        "project": {
            "type": "bool",
            "help": "Add the training project: " + ", ".join(PROJECT_FILES),
            "default": False,
        },
        "smoke": {"type": "bool", "help": "Run the smoke check (forward + backward)", "default": True},
        "size": {
            "type": "str",
            "help": "Input size of the smoke check (H or HxW; empty: the smallest that exercises every "
            "stage, 256 for a training project)",
            "default": "",
        },
    }


def _archs_using(slot: str) -> list[str]:
    return [bp.name for bp in blueprints.registry().values() if slot in bp.slots]


def _uses(slot: str, join: str | None = None) -> Any:
    """A copier 'when' asking the slot only for the architectures that use it: a mapping to
    merge into the question, or (with ``join``) a condition to put before another."""
    archs = _archs_using(slot)
    if join is not None:
        return "" if archs == blueprints.names() else f"arch in {archs} {join}"
    return {} if archs == blueprints.names() else {"when": f"{{{{ arch in {archs} }}}}"}


def _slot_default(slot: str, catalog_default: str) -> str:
    """The slot's default, per architecture where a blueprint changes it (copier renders it)."""
    text = catalog_default
    for bp in blueprints.registry().values():
        default = bp.slot_defaults.get(slot)
        if default is None:
            continue
        if isinstance(default, blueprints.ByOption):
            inner = "".join(
                f"{{% {'if' if i == 0 else 'elif'} {default.option} == {value!r} %}}{name}"
                for i, (value, name) in enumerate(default.table.items())
            )
            default = inner + f"{{% else %}}{default.otherwise or catalog_default}{{% endif %}}"
        text = f"{{% if arch == '{bp.name}' %}}{default}{{% else %}}{text}{{% endif %}}"
    return text


def _jinja(default: Any) -> str:
    """An option's default as copier template text (a ByOption becomes if/elif/else)."""
    if not isinstance(default, blueprints.ByOption):
        return str(default)
    branches = "".join(
        f"{{% {'if' if i == 0 else 'elif'} {default.option} == {value!r} %}}{result}"
        for i, (value, result) in enumerate(default.table.items())
    )
    return branches + f"{{% else %}}{default.otherwise}{{% endif %}}"


def _option_question(takers: list) -> dict:
    """One copier question for a size option; its default and help follow the architecture."""
    first = takers[0][1]
    question: dict = {"type": "int" if first.kind is int else "str"}
    helps = (
        first.help if len(takers) == 1 else "; ".join(f"{bp.name}: {option.help}" for bp, option in takers)
    )
    question["help"] = helps[0].upper() + helps[1:] if len(takers) == 1 else helps
    archs = [bp.name for bp, _ in takers]
    if archs != blueprints.names():
        question["when"] = f"{{{{ arch in {archs} }}}}"
    defaults = {bp.name: _jinja(option.default) for bp, option in takers}
    if len(set(defaults.values())) == 1 and not isinstance(first.default, blueprints.ByOption):
        question["default"] = first.default
    else:
        text = ""
        for arch, value in defaults.items():
            text = f"{{% if arch == '{arch}' %}}{value}{{% else %}}{text}{{% endif %}}"
        question["default"] = text
    allowed = first.allowed()
    if allowed and len(takers) == 1:
        question["choices"] = list(allowed)
    return question


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
            "| name | title | paper | code (the authors') / follows | licence | channels | constraints "
            "| parameters |",
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
                f"| `{e.name}` | {e.title} | {paper} | {code} | {e.license} | `{e.contract.channels}` "
                f"| {constraints} | {refs} |"
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
