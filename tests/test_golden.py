"""Golden files: the exact model.py for four fixed specs, compared byte for byte.

After an intended change to the templates, the catalog or a module, refresh them with

    PLUGSCAFFOLD_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

and review the diff (git diff tests/golden) before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import load_source

from plugscaffold.blueprints import make_plan
from plugscaffold.render import render_model
from plugscaffold.spec import make_spec

GOLDEN = Path(__file__).parent / "golden"
SPECS = {
    "classic_unet": ("unet", {}),
    "headline": ("my_unet", {"down": "hwd", "up": "dysample", "skip": "eff"}),
    "small_ablation": (
        "ablation",
        {"in_channels": 1, "classes": 4, "depth": 3, "width": 32, "down": "conv",
         "up": "bilinear:kernel_size=3", "skip": "add", "attn": "cbam:reduction=8", "conv": "dsconv"},
    ),  # fmt: skip
    # issue 14's reading example: hooks, every plug-in kind, a composition at four stages
    "reading_order": ("m", {"down": "hwd", "up": "dysample", "skip": "eff", "attn": "se+cbam^@enc"}),
}


@pytest.mark.parametrize("key", SPECS)
def test_model_matches_golden_file(key, catalog):
    name, options = SPECS[key]
    plan = make_plan(make_spec(catalog, name, options), catalog)
    model = load_source(render_model(plan, catalog)).UNet()
    source = render_model(plan, catalog, parameters=sum(p.numel() for p in model.parameters()))
    path = GOLDEN / f"{key}.py"
    if os.environ.get("PLUGSCAFFOLD_UPDATE_GOLDEN"):
        path.write_text(source)
    assert path.exists(), f"missing {path}; create it with PLUGSCAFFOLD_UPDATE_GOLDEN=1"
    assert source == path.read_text(), f"{path.name} changed; see this module's docstring to refresh it"
