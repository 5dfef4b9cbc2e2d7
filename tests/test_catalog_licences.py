"""Provenance and licences: every entry names the code it follows and that code's licence,
and the licence reaches the user (list, show, the model.py header, new's report, the project README)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from plugscaffold.catalog import license_kind, license_notice, parse_catalog
from plugscaffold.errors import CatalogError
from plugscaffold.options import Output
from plugscaffold.pipeline import generate

RAW = yaml.safe_load((REPO / "catalog.yaml").read_text())


def entry(data, name, slot=None):
    return next(m for m in data["modules"] if m["name"] == name and slot in (None, m["slot"]))


def broken(mutate):
    data = copy.deepcopy(RAW)
    mutate(data)
    return data


REJECTED = [
    (lambda d: entry(d, "hwd").pop("license"), "entry 'hwd': missing required key 'license'"),
    (lambda d: entry(d, "maxpool").pop("license"), "entry 'maxpool': missing required key 'license'"),
    (
        lambda d: entry(d, "hwd").update(license="free for all"),
        "entry 'hwd': license 'free for all' is not a known licence; start it with one of: MIT",
    ),
    (
        lambda d: entry(d, "hwd").pop("code"),
        "entry 'hwd': name the code this module follows: 'code' (the paper authors' own) or 'reference_code'",
    ),
    (
        lambda d: entry(d, "avgpool").update(code=entry(d, "avgpool").pop("reference_code")),
        "entry 'avgpool': 'code' is the paper authors' code, but the entry has no paper; "
        "use 'reference_code'",
    ),
    (
        lambda d: entry(d, "gam").update(reference_kode="https://example.org"),
        "entry 'gam': unknown key 'reference_kode' (did you mean 'reference_code'?)",
    ),
    (
        lambda d: entry(d, "gam").update(reference_code="github.com/x/y"),
        "reference_code must be an https:// address",
    ),
    (
        lambda d: entry(d, "se")["fixture"][0]["params"].update(bais=False),
        "entry 'se': fixture se.pt sets unknown param 'bais'",
    ),
]


@pytest.mark.parametrize("mutate,message", REJECTED, ids=[m for _, m in REJECTED])
def test_an_entry_without_licence_or_code_reference_distinction_is_rejected(mutate, message):
    with pytest.raises(CatalogError) as info:
        parse_catalog(broken(mutate), Path("catalog.yaml"))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_every_entry_names_its_code_and_a_licence_of_a_known_kind(catalog):
    for e in catalog.entries.values():
        assert e.code or e.reference_code, e.key
        assert license_kind(e.license) is not None, (e.key, e.license)
        if e.code:
            assert e.paper, e.key


@pytest.mark.parametrize(
    "key,code,reference_code,kind",
    [
        ("conv/scconv", None, "https://github.com/cheng-haha/ScConv", "unstated"),
        ("down/spd", "https://github.com/TrustAIoT/SPD-Conv", None, "copyleft"),
        (
            "bottleneck/transformer",
            "https://github.com/google-research/vision_transformer",
            "https://github.com/pytorch/pytorch",
            "permissive",
        ),
        (
            "skip/ag",
            "https://github.com/ozan-oktay/Attention-Gated-Networks",
            "https://github.com/LeeJunHyun/Image_Segmentation",
            "unstated",
        ),
        ("attn/ela", None, "https://github.com/AIFengheshu/Plug-play-modules", "unstated"),
        ("attn/gam", None, "https://github.com/z1069614715/objectdetection_script", "unstated"),
        ("attn/lsk", "https://github.com/zcablii/LSKNet", None, "noncommercial"),
        (
            "attn/nonlocal",
            "https://github.com/facebookresearch/video-nonlocal-net",
            "https://github.com/AlexHex7/Non-local_pytorch",
            "noncommercial",
        ),
        (
            "attn/scse",
            "https://github.com/ai-med/squeeze_and_excitation",
            "https://github.com/qubvel-org/segmentation_models.pytorch",
            "permissive",
        ),
        ("down/blurpool", "https://github.com/adobe/antialiased-cnns", None, "noncommercial"),
        ("down/adown", "https://github.com/WongKinYiu/yolov9", None, "copyleft"),
    ],
)
def test_provenance_of_the_entries_the_audit_named(catalog, key, code, reference_code, kind):
    e = catalog.entries[key]
    assert (e.code, e.reference_code, license_kind(e.license)) == (code, reference_code, kind)


def test_lsk_authors_and_licence_follow_the_official_readme(catalog):
    lsk = catalog.entries["attn/lsk"]
    assert lsk.paper["authors"] == "Li, Hou, Zheng, Cheng, Yang, Li"
    assert lsk.license == "CC BY-NC 4.0"


def test_list_shows_a_licence_column_and_filters_on_its_kind(run_cli, catalog):
    rows = run_cli("list", "--license", "noncommercial").out.split("\n\n")[0].splitlines()
    header, body = rows[0].split(), rows[1:]
    assert "licence" in header
    assert sorted(r.split()[0] + "/" + r.split()[1] for r in body) == [
        "blurpool/down", "lsk/attn", "nonlocal/attn", "nonlocal/bottleneck"
    ]  # fmt: skip
    assert all("CC BY-NC" in r for r in body)
    permissive = run_cli("list", "attn", "--license", "permissive").out
    assert "se " in permissive and "lsk " not in permissive
    copyleft = {
        r.split()[0] for r in run_cli("list", "--license", "copyleft").out.split("\n\n")[0].splitlines()[1:]
    }
    assert {"adown", "spd"} <= copyleft
    bad = run_cli("list", "--license", "permisive")
    assert bad.code == 1 and "did you mean 'permissive'?" in bad.err and "\n" not in bad.err.strip()


def test_show_names_the_authors_code_the_followed_code_and_the_licence(run_cli):
    out = run_cli("show", "attn/nonlocal").out
    assert (
        "code         https://github.com/facebookresearch/video-nonlocal-net (the paper authors' code)" in out
    )
    assert "follows      https://github.com/AlexHex7/Non-local_pytorch (not the authors' code)" in out
    assert "licence      CC BY-NC 4.0" in out


def test_new_prints_one_line_notice_for_noncommercial_and_copyleft_references(run_cli):
    result = run_cli("new", "m", "--attn", "lsk@bottleneck", "--down", "adown", "--no-smoke", "--stdout")
    assert result.code == 0, result.err
    notices = [line for line in result.err.splitlines() if line.startswith("Licence")]
    assert len(notices) == 1
    assert "lsk (non-commercial: CC BY-NC 4.0)" in notices[0] and "adown (copyleft: GPL-3.0)" in notices[0]
    assert "licence: CC BY-NC 4.0" in result.out and "licence: GPL-3.0" in result.out  # the model.py header
    plain = run_cli("new", "p", "--attn", "se", "--no-smoke", "--stdout")
    assert not [line for line in plain.err.splitlines() if line.startswith("Licence")]
    assert "licence: Apache-2.0" in plain.out


def test_license_notice_names_only_restricted_entries(catalog):
    entries = [catalog.entries[k] for k in ("attn/se", "down/blurpool", "attn/cbam")]
    notice = license_notice(entries)
    assert notice.startswith(
        "blurpool (non-commercial: CC BY-NC-SA 4.0) follows code under a restrictive licence"
    )
    assert license_notice([catalog.entries["attn/se"]]) == ""


def test_training_project_readme_carries_the_notice():
    gen = generate(
        "proj",
        {"attn": "nonlocal@bottleneck", "width": 8, "depth": 2},
        smoke=False,
        output=Output.RENDER_PROJECT,
    )
    readme = gen.contents["README.md"]
    assert "**Licence notice:** nonlocal (non-commercial: CC BY-NC 4.0) follows code" in readme
    assert (
        "| licence of that code |" in readme and "CC BY-NC 4.0 (facebookresearch/video-nonlocal-net" in readme
    )
    plain = generate("proj", {"width": 8, "depth": 2}, smoke=False, output=Output.RENDER_PROJECT)
    assert "Licence notice" not in plain.contents["README.md"]


def test_golden_headers_name_the_licence_of_every_plug_in():
    for path in sorted((REPO / "tests" / "golden").glob("*.py")):
        header = path.read_text().split('"""')[1]
        lines = header.split("Plug-ins:\n", 1)[1].splitlines() if "Plug-ins:" in header else []
        plugins = [
            i for i, line in enumerate(lines) if line.startswith("    ") and not line.startswith("     ")
        ]
        for i, start in enumerate(plugins):  # each plug-in's block (wrapped at 88) has its licence
            block = lines[start + 1 : (plugins + [len(lines)])[i + 1]]
            assert any(line.startswith("        licence: ") for line in block), (path.name, lines[start])
    headline = (REPO / "tests" / "golden" / "headline.py").read_text()
    assert "    up dysample: DySample" in headline and "        licence: MIT" in headline
