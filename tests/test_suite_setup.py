"""The suite's own scheduling (tests/conftest.py, issue 16): how many xdist workers `-n auto`
starts, and the longest-first order in which modules are handed to them."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import conftest
import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("cpus, workers", [(1, 2), (2, 4), (3, 4), (16, 4)])
def test_auto_starts_two_workers_per_cpu_at_most_four(monkeypatch, cpus, workers):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert conftest.pytest_xdist_auto_num_workers(None) == workers


def test_every_timed_module_exists():
    """A renamed or split module must be timed again, not silently lose its place."""
    missing = [name for name in conftest.MODULE_SECONDS if not (TESTS / name).is_file()]
    assert not missing, f"conftest.MODULE_SECONDS names modules that are gone: {missing}"


def test_modules_go_out_longest_first_and_keep_their_own_order():
    def item(module: str, name: str) -> SimpleNamespace:
        return SimpleNamespace(path=TESTS / module, name=name)

    items = [
        item("test_catalog.py", "a"),
        item("test_project.py", "b1"),
        item("test_deploy_sweep.py", "c1"),
        item("test_project.py", "b2"),
        item("test_deploy_sweep.py", "c2"),
        item("test_compose.py", "d"),
    ]
    conftest.pytest_collection_modifyitems(None, items)
    assert [i.name for i in items] == ["c1", "c2", "b1", "b2", "a", "d"]
    assert conftest.MODULE_SECONDS["test_deploy_sweep.py"] > conftest.MODULE_SECONDS["test_project.py"]


def test_the_run_itself_is_in_that_order(request):
    """The collected session: no untimed module before a timed one, the timed ones by their seconds."""
    names = list(dict.fromkeys(item.path.name for item in request.session.items))
    seconds = [conftest.MODULE_SECONDS.get(name, 0) for name in names]
    assert seconds == sorted(seconds, reverse=True), names


def test_this_is_the_conftest_pytest_loaded(request):
    """Importing conftest here must not run it a second time (it sets the suite's environment)."""
    assert request.config.pluginmanager.get_plugin(str(TESTS / "conftest.py")) is conftest
