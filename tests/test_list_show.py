"""`plugscaffold list` and `plugscaffold show` present the catalog."""

from __future__ import annotations


def test_list_is_a_table_of_every_module(run_cli, catalog):
    result = run_cli("list")
    assert result.code == 0
    header, *rows = result.out.splitlines()
    assert header.split() == ["name", "slot", "title", "year", "licence", "parameters", "deploy"]
    for entry in catalog.entries.values():
        assert any(row.split()[:2] == [entry.name, entry.slot] for row in rows), entry.key
    assert any("dysample" in row and "2023" in row and "2,080 @ C=64" in row for row in rows)


def test_list_filters_by_slot(run_cli, catalog):
    rows = run_cli("list", "skip").out.split("\n\n")[0].splitlines()[1:]  # the table, not the notes
    names = {row.split()[0] for row in rows}
    assert names == {e.name for e in catalog.in_slot("skip")}
    assert {"cat", "add", "eff", "aff", "iaff", "cgafusion", "ag"} <= names


def test_show_presents_paper_code_contract_constraints_params_and_emitted_code(run_cli):
    out = run_cli("show", "dysample").out
    for text in [
        "dysample (up slot)", "Learning to Upsample by Learning to Sample", "ICCV 2023", "arXiv:2308.15085",
        "https://github.com/tiny-smart/dysample", "output channels = in_channels", "spatial scale x2",
        "constraint", "groups", "2,080 parameters", "class DySample(nn.Module):", "layer = DySample(64",
    ]:  # fmt: skip
        assert text in out, text


def test_show_of_a_name_used_in_two_slots_shows_both_or_one(run_cli):
    both = run_cli("show", "conv").out
    assert "conv (down slot)" in both and "conv (conv slot)" in both
    one = run_cli("show", "down/conv").out
    assert "conv (down slot)" in one and "conv (conv slot)" not in one
