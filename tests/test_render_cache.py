"""Black runs on the parts of model.py, each cached: the result is black's whole-file output."""

from __future__ import annotations

import pytest

from plugscaffold import inline, render
from plugscaffold.blueprints import make_plan
from plugscaffold.catalog import load_catalog
from plugscaffold.errors import PlugscaffoldError
from plugscaffold.resources import MODULES_DIR
from plugscaffold.spec import make_spec

CATALOG = load_catalog()


def plan_of(options, name="m"):
    return make_plan(make_spec(CATALOG, name, options), CATALOG)


def options_using(entry):
    return {
        entry.slot: [f"{entry.name}@enc"] if entry.slot == "attn" else entry.name,
        "width": 64,
        "depth": 3,
    }


def test_parts_formatted_apart_equal_black_on_the_whole_file_and_come_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGSCAFFOLD_CACHE_DIR", str(tmp_path))
    plan = plan_of({"down": "hwd", "up": "dysample", "skip": "eff", "attn": ["se+cbam^@dec", "msca@down"]})
    first = render.render_model(plan, CATALOG)
    assert first == render.format_code(render.unformatted(plan, CATALOG))
    entries = sorted(p.name for p in (tmp_path / "black").iterdir())
    assert len(entries) > 5  # the skeleton and every inlined source
    calls = []
    monkeypatch.setattr(render, "format_code", lambda text: calls.append(text) or text)
    assert render.render_model(plan, CATALOG) == first and calls == []  # all from the cache
    renamed = plan_of(
        {"down": "hwd", "up": "dysample", "skip": "eff", "attn": ["se+cbam^@dec", "msca@down"]}, "n"
    )
    text = render.render_model(renamed, CATALOG)  # the name and command fill in the header
    assert calls == [] and text == first.replace("m: UNet", "n: UNet").replace("new m ", "new n ")
    other = plan_of({"down": "hwd", "up": "dysample", "skip": "eff", "attn": ["se+cbam^@enc"]})
    render.render_model(other, CATALOG)
    # only what is new to this plan (the model class; code generated for its placements), never
    # a plug-in's own source, already formatted for the first plan
    shipped = {definition.source for definition in inline.index().values()}
    assert any("class UNet(nn.Module):" in text for text in calls)
    assert not shipped & set(calls)


def test_a_cache_entry_is_keyed_by_the_text_so_a_changed_source_is_formatted_afresh(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGSCAFFOLD_CACHE_DIR", str(tmp_path))
    assert render.format_cached("x  =  1\n") == "x = 1\n"
    assert render.format_cached("x  =  2\n") == "x = 2\n"
    assert len(list((tmp_path / "black").iterdir())) == 2


@pytest.mark.slow  # black over 70 whole files
@pytest.mark.parametrize("key", list(CATALOG.entries))
def test_every_plug_in_renders_as_black_formats_the_whole_file(key, tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGSCAFFOLD_CACHE_DIR", str(tmp_path))
    try:
        plan = plan_of(options_using(CATALOG.entries[key]))
    except PlugscaffoldError as exc:
        pytest.skip(f"not placeable at width 64, depth 3: {exc}")
    assert render.render_model(plan, CATALOG) == render.format_code(render.unformatted(plan, CATALOG))


def test_the_plug_in_index_read_from_the_cache_equals_a_fresh_parse(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGSCAFFOLD_CACHE_DIR", str(tmp_path))
    texts = {p.name: p.read_text() for p in sorted(MODULES_DIR.glob("*.py")) if p.name != "__init__.py"}
    parsed = inline._parse_index(texts)
    inline.index.cache_clear()
    try:
        assert inline.index() == parsed  # parsed, and stored
        assert len(list((tmp_path / "inline").iterdir())) == 1
        inline.index.cache_clear()
        monkeypatch.setattr(inline, "_parse_index", lambda texts: pytest.fail("parsed again"))
        assert inline.index() == parsed  # read back
    finally:
        inline.index.cache_clear()
