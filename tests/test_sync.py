"""Files derived from catalog.yaml (copier.yml, docs/catalog.md) are current."""

from __future__ import annotations

import pytest
from conftest import REPO

from plugscaffold.sync import TARGETS


@pytest.mark.parametrize("relative", TARGETS)
def test_derived_file_is_up_to_date(relative, catalog):
    expected = TARGETS[relative](catalog)
    assert (
        REPO / relative
    ).read_text() == expected, f"{relative} is stale: run `python -m plugscaffold.sync`"


def test_catalog_page_lists_every_module_with_its_reference_figures(catalog):
    page = (REPO / "docs" / "catalog.md").read_text()
    for entry in catalog.entries.values():
        assert f"| `{entry.name}` |" in page
        for ref in entry.reference:
            assert f"{ref.params:,} at" in page
