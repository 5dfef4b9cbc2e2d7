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


def test_the_cpu_report_sums_each_module_and_lists_the_costliest_tests(tmp_path):
    """benchmarks/suite_cpu.py: the figures behind the README's 'where the CPU time goes'."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("suite_cpu", TESTS.parent / "benchmarks" / "suite_cpu.py")
    suite_cpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite_cpu)
    rows = "tests/a.py::x\t1.00\t2.00\t3.50\ntests/b.py::y\t0.50\t0.00\t0.60\n"
    (tmp_path / "tests_1.tsv").write_text(rows)
    (tmp_path / "tests_2.tsv").write_text("tests/a.py::z\t0.25\t4.00\t4.00\n")
    lines = suite_cpu.report(tmp_path).splitlines()
    assert lines[0] == "3 tests, 8 s of CPU time"
    assert lines[3].split() == ["1", "6", "7", "8", "tests/a.py"]  # own 1.25, children 6, wall 7.5
    assert lines[4].split() == ["0", "0", "0", "1", "tests/b.py"]
    assert lines[7].split() == ["4.2", "4.0", "tests/a.py::z"]
    assert "no rows" in suite_cpu.report(tmp_path / "empty")
