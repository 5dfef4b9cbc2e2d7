"""catalog.yaml: schema validation with errors that name the entry, and the shipped entries."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, load_source

from plugscaffold import inline
from plugscaffold.catalog import load_catalog, parse_catalog
from plugscaffold.errors import CatalogError
from plugscaffold.plan import place

RAW = yaml.safe_load((REPO / "catalog.yaml").read_text())


def broken(mutate):
    data = copy.deepcopy(RAW)
    mutate(data)
    return data


def entry(data, name, slot=None):
    return next(m for m in data["modules"] if m["name"] == name and slot in (None, m["slot"]))


BROKEN = [
    (lambda d: entry(d, "hwd").update(slto="down"), "entry 'hwd': unknown key 'slto' (did you mean 'slot'?)"),
    (
        lambda d: d["modules"].append(copy.deepcopy(entry(d, "hwd"))),
        "entry 'hwd' uses the name 'hwd', already taken",
    ),
    (
        lambda d: entry(d, "eff").update(aliases=["cat"]),
        "entry 'eff' uses the name 'cat', already taken in slot 'skip'",
    ),
    (lambda d: entry(d, "hwd").pop("build"), "entry 'hwd': missing required key 'build'"),
    (
        lambda d: entry(d, "dysample")["params"]["groups"].update(default="four"),
        "param 'groups' default 'four' is not a int",
    ),
    (
        lambda d: entry(d, "eff")["contract"]["constraints"][0].update(check="channels % 32 == 0"),
        "uses unknown name 'channels'",
    ),
    (
        lambda d: entry(d, "eff")["contract"].update(channels="__import__('os')"),
        "entry 'eff': '__import__('os')' calls something other than min or max",
    ),
    (
        lambda d: entry(d, "se").update(build="SqueezeExcite({channels})"),
        "entry 'se': build uses unknown placeholder '{channels}'",
    ),
    (
        lambda d: entry(d, "hwd").update(slot="downs"),
        "entry 'hwd': unknown slot 'downs' (did you mean 'down'?)",
    ),
    (
        lambda d: entry(d, "hwd")["contract"].update(scale=2),
        "slot 'down' modules take 1 input(s) at scale 0.5",
    ),
    (
        lambda d: entry(d, "hwd")["source"].update(file="nope.py"),
        "entry 'hwd': source file modules/nope.py does not exist",
    ),
    (
        lambda d: entry(d, "hwd")["source"].update(classes=["HaarWaveletDownsampel"]),
        "entry 'hwd': source classes names 'HaarWaveletDownsampel', which modules/hwd.py does not "
        "define (did you mean 'HaarWaveletDownsample'?)",
    ),
    (
        lambda d: entry(d, "hwd")["source"].update(classes=["HaarAnalysisFilterBank"]),
        "entry 'hwd': build calls HaarWaveletDownsample, which is not in source classes",
    ),
    (
        lambda d: entry(d, "hwd")["source"].update(classes="HaarWaveletDownsample"),
        "entry 'hwd': source classes must be a non-empty list of class names",
    ),
    (
        lambda d: d["slots"]["down"].update(default="minpool"),
        "slot 'down' defaults to unknown module 'minpool'",
    ),
    # a value of the wrong type is a one-line error too, not a TypeError from inside the loader
    (lambda d: d.update(slots=["down"]), "catalog.yaml: 'slots' must be a mapping of slot names to slots"),
    (lambda d: entry(d, "hwd").update(slot=["down"]), "entry 'hwd': unknown slot '['down']'"),
    (lambda d: entry(d, "hwd").update(aliases="haar"), "entry 'hwd': aliases must be a list of names"),
    (
        lambda d: entry(d, "hwd")["source"].update(file=None),
        "entry 'hwd': source file must be a file name in modules/",
    ),
    (lambda d: entry(d, "dysample").update(params=["groups"]), "entry 'dysample': params must be a mapping"),
    (
        lambda d: entry(d, "dysample")["params"]["groups"].update(type=["int"]),
        "entry 'dysample': param 'groups' has unknown type '['int']'",
    ),
    (
        lambda d: entry(d, "dysample")["params"]["style"].update(choices="lp"),
        "entry 'dysample': param 'style' choices must be a list of values",
    ),
    (
        lambda d: entry(d, "dysample")["contract"].update(constraints=1),
        "entry 'dysample': contract constraints must be a list of {check, reason} mappings",
    ),
    (lambda d: entry(d, "maxpool").update(build=2), "entry 'maxpool': build is not one Python call (2)"),
    (
        lambda d: entry(d, "dysample").update(reference=2080),
        "entry 'dysample': reference must be a list of {config, params, measured} mappings",
    ),
    (
        lambda d: entry(d, "dysample").update(fixture=[{"file": ["a.pt"], "params": {}}]),
        "entry 'dysample': a fixture with params is {file: NAME, params: {...}}",
    ),
]


@pytest.mark.parametrize("mutate,message", BROKEN, ids=[m for _, m in BROKEN])
def test_malformed_catalogs_are_load_errors_that_name_the_entry(mutate, message):
    with pytest.raises(CatalogError) as info:
        parse_catalog(broken(mutate), Path("catalog.yaml"))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_key_given_twice_is_a_load_error(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(
        (REPO / "catalog.yaml").read_text().replace("  - name: hwd\n", "  - name: hwd\n    name: hwd2\n")
    )
    with pytest.raises(CatalogError, match="key 'name' appears twice"):
        load_catalog(path)


def test_every_slot_default_and_every_entry_with_code_has_provenance(catalog):
    for entry in catalog.entries.values():
        if entry.code:
            assert entry.paper and entry.license, entry.key
        for ref in entry.reference:
            assert ref.measured, entry.key


def test_module_files_define_each_name_once_and_import_only_torch():
    allowed = {"import math", "import torch", "import torch.nn as nn", "import torch.nn.functional as F"}
    for definition in inline.index().values():
        for line in definition.bindings.values():
            assert line in allowed or line.startswith("from typing import"), (definition.file, line)


def _built(entry, config):
    params = {k: config.get(k, p.default) for k, p in entry.params.items()}
    channels = {k: config.get(k) for k in ("in_channels", "out_channels", "skip_channels")}
    placed = place(entry, params, where="test", **channels)
    sources, imports = inline.collect(entry.classes)
    namespace = load_source("\n".join([*imports, "import torch", "import torch.nn as nn", *sources]))
    return eval(placed.code, namespace.__dict__), placed.out_channels  # the emitted constructor call


REFERENCES = [(e.key, r) for e in load_catalog().entries.values() for r in e.reference]


@pytest.mark.parametrize("key,ref", REFERENCES, ids=[f"{k}-{r.params}" for k, r in REFERENCES])
def test_parameter_count_equals_the_figure_measured_on_the_official_code(key, ref, catalog):
    module, _ = _built(catalog.entries[key], ref.config)
    assert sum(p.numel() for p in module.parameters()) == ref.params


@pytest.mark.parametrize("key", sorted(load_catalog().entries))
def test_channel_rule_and_scale_of_the_contract_hold(key, catalog):
    e = catalog.entries[key]
    config = {"in_channels": 64, "out_channels": 32 if e.slot == "up" else 64, "skip_channels": 64}
    module, channels = _built(e, config)
    inputs = [torch.randn(2, 64, 8, 8) for _ in range(e.contract.inputs)]
    out = module(*inputs)
    side = int(8 * e.contract.scale)
    assert out.shape == (2, channels, side, side)


def test_one_paper_link_serves_the_catalog_and_the_homework_docstring(catalog):
    from plugscaffold.catalog import paper_link
    from plugscaffold.homework.student import _paper_lines

    assert paper_link({"doi": "10.1/x", "arxiv": "1234.5678"}) == "https://doi.org/10.1/x"
    assert paper_link({"arxiv": "1234.5678"}) == "https://arxiv.org/abs/1234.5678"
    assert paper_link({}) == ""
    entry = next(e for e in catalog.entries.values() if e.paper and paper_link(e.paper))
    assert entry.link == (entry.code or entry.reference_code or paper_link(entry.paper))
    paper_line = next(line for line in _paper_lines(entry) if line.startswith("Paper: "))
    assert paper_line.endswith(f"). {paper_link(entry.paper)}")


def test_the_parsed_catalog_is_cached_by_its_text(tmp_path, monkeypatch):
    """The YAML data of a catalog file is kept in the cache under the digest of its text: a
    second load reads it back (the same catalog), an edited file is parsed again, a damaged
    entry is parsed again and replaced, and a file that does not parse is never cached."""
    monkeypatch.setenv("PLUGSCAFFOLD_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "catalog.yaml"
    path.write_text((REPO / "catalog.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    first = load_catalog(path)
    entries = list((tmp_path / "cache" / "catalog").iterdir())
    assert len(entries) == 1
    assert load_catalog(path) == first  # read back from the cache
    entries[0].write_text("{not json", encoding="utf-8")
    assert load_catalog(path) == first  # a damaged entry: parsed again ...
    assert entries[0].read_text(encoding="utf-8").startswith("{")  # ... and replaced

    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("title: Haar wavelet downsampling\n", "title: Haar (edited)\n", 1), encoding="utf-8"
    )
    assert load_catalog(path).entries["down/hwd"].title == "Haar (edited)"  # not the cached data
    assert len(list((tmp_path / "cache" / "catalog").iterdir())) == 2

    path.write_text(text + "\nslots: {}\nslots: {}\n", encoding="utf-8")  # a key given twice
    with pytest.raises(CatalogError, match="appears twice"):
        load_catalog(path)
    assert len(list((tmp_path / "cache" / "catalog").iterdir())) == 2
