"""The blueprint registry: architectures are declared in plugscaffold/blueprints/ only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plugscaffold import blueprints
from plugscaffold.errors import SpecError
from plugscaffold.spec import make_spec

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plugscaffold"


def test_every_blueprint_is_complete():
    registry = blueprints.registry()
    assert blueprints.default_arch() in registry
    for name, bp in registry.items():
        assert (ROOT / "templates" / bp.template).is_file(), f"{name}: no template {bp.template}"
        assert bp.task in blueprints.TASKS and bp.output in blueprints.OUTPUTS
        assert set(bp.default_positions) <= set(bp.positions)
        for option in bp.options:
            assert option.parse(
                option.default_for({o.name: o.default for o in bp.options if not callable(o.default)})
            )


def test_no_architecture_name_outside_blueprints():
    """Adding an architecture touches blueprints/ and templates/ only: no other module of
    the package names one (in code, strings or comments)."""
    names = [n for n in blueprints.names()]
    names += [bp.title for bp in blueprints.registry().values()]
    pattern = re.compile(r"(" + "|".join(map(re.escape, names)) + r")\w*", re.IGNORECASE)
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("blueprints", "modules"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in pattern.finditer(line):
                offenders.append(f"{relative}:{number}: {match.group(0)}")
    assert not offenders, "architecture names outside blueprints/:\n" + "\n".join(offenders)


def test_templates_are_per_architecture():
    model_templates = {p.parent.name for p in (ROOT / "templates").glob("*/model.py.jinja")}
    assert set(blueprints.names()) <= model_templates


def test_unknown_architecture_is_one_line_with_suggestion(catalog):
    with pytest.raises(SpecError, match=r"unknown architecture 'unte' \(did you mean 'unet'\?\)"):
        make_spec(catalog, "m", {"arch": "unte"})


def test_option_of_another_architecture_is_refused(catalog):
    other = {
        name
        for name, takers in blueprints.all_options().items()
        if blueprints.default_arch() not in [bp.name for bp, _ in takers]
    }
    for name in sorted(other)[:3]:
        with pytest.raises(SpecError, match="is not an option of --arch"):
            make_spec(catalog, "m", {name: 1})
