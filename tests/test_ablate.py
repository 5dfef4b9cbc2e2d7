"""plugscaffold ablate (issue 11): the study spec, the variants, measuring, resuming, training, tables."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import load_source

from plugscaffold.ablate.command import split_levels
from plugscaffold.ablate.study import StudyError, parse_study, read_study

SMALL = {"width": 8, "depth": 2}
CHECK = {"size": 32, "batch": 2}


def write_study(path: Path, **data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def rows_of(out: Path) -> dict[str, dict]:
    with open(out / "results.csv", newline="", encoding="utf-8") as handle:
        return {row["variant"]: row for row in csv.DictReader(handle)}


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


# --- the spec (no torch) ---------------------------------------------------------------------


def test_grid_names_variants_by_their_difference_from_the_baseline(catalog):
    study = parse_study(
        {"baseline": SMALL, "factors": {"down": ["maxpool", "hwd"], "up": ["convtranspose", "dysample"]}},
        catalog,
    )
    assert [v.name for v in study.variants] == [
        "baseline",
        "up-dysample",
        "down-hwd",
        "down-hwd__up-dysample",
    ]
    assert study.variants[3].changes == {"down": "hwd", "up": "dysample"}
    assert study.variants[3].options == {**SMALL, "down": "hwd", "up": "dysample"}


def test_one_factor_at_a_time_and_labels(catalog):
    data = {
        "baseline": SMALL,
        "factors": {
            "down": ["maxpool", "hwd", "spd"],
            "attn": ["none", {"value": ["se+cbam^@enc", "se/cbam@dec"], "label": "se-cbam"}],
        },
        "design": "oat",
    }
    names = [v.name for v in parse_study(data, catalog).variants]
    assert names == ["baseline", "down-hwd", "down-spd", "attn-se-cbam"]


def test_rows_keep_their_order_and_the_baseline_row_is_the_reference(catalog):
    data = {
        "baseline": SMALL,
        "design": "rows",
        "rows": [{"down": "hwd"}, {"name": "plain"}, {"up": "dysample"}],
    }
    study = parse_study(data, catalog)
    assert [v.name for v in study.variants] == ["down-hwd", "plain", "up-dysample"]
    assert study.reference == "plain"


def test_a_changed_level_changes_only_its_rows_hashes(catalog):
    one = parse_study(
        {"baseline": SMALL, "factors": {"down": ["maxpool", "hwd"], "up": ["convtranspose", "dysample"]}},
        catalog,
    )
    two = parse_study(
        {"baseline": SMALL, "factors": {"down": ["maxpool", "hwd"], "up": ["convtranspose", "bilinear"]}},
        catalog,
    )
    first, second = {v.name: v.hash for v in one.variants}, {v.name: v.hash for v in two.variants}
    assert {n for n in first if second.get(n) == first[n]} == {"baseline", "down-hwd"}


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "baseline: {width: 8}\nfactors:\n  dwon: [maxpool, hwd]\n",
            "line 3: row: unknown option 'dwon' (did you mean 'down'?)",
        ),
        ("factors:\n  down: [maxpool, hwdd]\n", "line 2: row: unknown down module 'hwdd'"),
        ("factors:\n  down: hwd\n", "line 2: factor 'down' needs a list of levels"),
        ("factors: {down: [hwd]}\ndesing: grid\n", "line 2: unknown key 'desing' (did you mean 'design'?)"),
        ("factors: {down: [hwd]}\ndesign: cross\n", "line 2: design 'cross' is not one of grid, oat"),
        ("factors: {down: [hwd]}\ncheck: {size: 0}\n", "check: --size 0x0 must be between"),
        (
            "factors: {down: [hwd]}\nmeasure:\n  threads: two\n",
            "line 3: measure: threads must be a positive integer",
        ),
        ("factors: {down: [hwd]}\nfactors: {up: [bilinear]}\n", "line 2: key 'factors' is given twice"),
        ("factors: [down, hwd\n", "is not valid YAML"),
    ],
)
def test_study_errors_are_one_line_naming_the_line(tmp_path, catalog, text, message):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(StudyError) as error:
        read_study(path, catalog)
    assert message in str(error.value) and str(error.value).startswith(str(path)), str(error.value)
    assert "\n" not in str(error.value)


def test_short_form_levels_keep_hyper_parameters_together():
    assert split_levels("maxpool,dysample:style=pl,groups=8,hwd") == [
        "maxpool",
        "dysample:style=pl,groups=8",
        "hwd",
    ]


def test_cli_errors_are_one_line(run_cli, tmp_path):
    result = run_cli("ablate", "s", "--down", "maxpool", cwd=tmp_path)
    assert result.code == 1 and "no option has more than one level" in result.err
    (tmp_path / "s.yaml").write_text("factors: {down: [maxpool, hwd]}\n")
    result = run_cli("ablate", "s.yaml", "--up", "dysample", cwd=tmp_path)
    assert result.code == 1 and "--up is for the short form" in result.err
    assert list(tmp_path.iterdir()) == [tmp_path / "s.yaml"]  # nothing written


# --- end to end --------------------------------------------------------------------------------


@pytest.mark.slow
def test_grid_2x2x2_measures_every_folder_exactly(run_cli, tmp_path):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    study = write_study(
        tmp_path / "grid.yaml",
        baseline=SMALL,
        factors={
            "down": ["maxpool", "hwd"],
            "up": ["convtranspose", "dysample"],
            "attn": ["none", "mhsa@bottleneck"],
        },
        check=CHECK,
        measure={"repeats": 2, "warmup": 1},
    )
    result = run_cli("ablate", str(study), "--out", "study", cwd=tmp_path)
    assert result.code == 0, result.err
    out = tmp_path / "study"
    folders = sorted(p.name for p in (out / "variants").iterdir())
    assert len(folders) == 8 and "down-hwd__up-dysample__attn-mhsa.at.bottleneck" in folders
    table, record = rows_of(out), manifest(out)
    assert record["spec_hash"] and record["torch"] == torch.__version__ and record["plugscaffold"]
    for name in folders:
        row = table[name]
        assert row["status"] == "done"
        module = load_source((out / "variants" / name / "model.py").read_text(), name.replace("-", "_"))
        model = getattr(module, record["variants"][name]["class_name"])()
        assert int(row["parameters"]) == sum(p.numel() for p in model.parameters()), name
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.randn(2, 3, 32, 32))
        assert int(row["flops"]) == counter.get_total_flops(), name
        assert int(row["activation_bytes"]) > 0 and float(row["latency_ms"]) > 0
        assert f"| {name} |" in (out / "results.md").read_text()
    base = table["baseline"]
    mhsa = table["attn-mhsa.at.bottleneck"]
    assert int(mhsa["d_parameters"]) == int(mhsa["parameters"]) - int(base["parameters"]) > 0
    tex = (out / "results.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and tex.count(r" \\") == 9
    assert (out / "params_flops.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_seed001_table_as_explicit_rows_equals_new(run_cli, tmp_path):
    from test_seed001 import TUTORIAL, readme_commands

    rows, news = [], []
    for argv, _stated in readme_commands():
        row: dict = {"name": argv[1]}
        words = argv[2:]
        for flag, value in zip(words[::2], words[1::2]):
            key = flag[2:].replace("-", "_")
            row[key] = [*row.get(key, []), value] if key == "attn" else value
        rows.append(row)
        made = run_cli(*argv, "--size", "32", "--dir", str(tmp_path), cwd=tmp_path)
        assert made.code == 0, made.err
        news.append(yaml.safe_load((tmp_path / argv[1] / ".plugscaffold.yml").read_text())["parameters"])
    study = write_study(
        tmp_path / "seed001.yaml", design="rows", rows=rows, check=CHECK, measure={"repeats": 1, "warmup": 0}
    )
    result = run_cli("ablate", str(study), "--out", "table", cwd=tmp_path)
    assert result.code == 0, result.err
    table = rows_of(tmp_path / "table")
    assert list(table) == ["seed001_unet", "seed001_dsconv", "seed001_msca"]  # the tutorial's order
    assert table["seed001_unet"]["d_parameters"] == "0"  # its first row is the reference
    assert [int(table[r["name"]]["parameters"]) for r in rows] == news == TUTORIAL


@pytest.mark.slow
def test_an_impossible_variant_is_skipped_with_its_reason(run_cli, tmp_path):
    study = write_study(
        tmp_path / "s.yaml", baseline=SMALL,
        factors={"up": ["convtranspose", "dysample:groups=3"], "down": ["maxpool", "hwd"]},
        check=CHECK, measure={"repeats": 1, "warmup": 0},
    )  # fmt: skip
    result = run_cli("ablate", str(study), "--out", "s", cwd=tmp_path)
    assert result.code == 0, result.err
    table = rows_of(tmp_path / "s")
    skipped = {n: r for n, r in table.items() if r["status"] == "skipped"}
    assert set(skipped) == {"up-dysample.groups=3", "up-dysample.groups=3__down-hwd"}
    assert all("groups=3, in_channels=32" in r["reason"] for r in skipped.values())
    assert [r["status"] for n, r in table.items() if n not in skipped] == ["done", "done"]
    assert not (tmp_path / "s" / "variants" / "up-dysample.groups=3").exists()


def _mtimes(out: Path) -> dict[str, int]:
    return {
        p.name: (p / "model.py").stat().st_mtime_ns
        for p in (out / "variants").iterdir()
        if (p / "model.py").exists()
    }


@pytest.mark.slow
def test_a_killed_study_resumes_without_redoing_finished_variants(run_cli, tmp_path):
    study = write_study(
        tmp_path / "s.yaml", baseline=SMALL,
        factors={"down": ["maxpool", "hwd"], "up": ["convtranspose", "dysample"]},
        check=CHECK, measure={"repeats": 20, "warmup": 1},
    )  # fmt: skip
    out = tmp_path / "s"
    proc = subprocess.Popen(
        [sys.executable, "-m", "plugscaffold", "ablate", str(study), "--out", str(out)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    done: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            rows = manifest(out)["variants"]
        except (OSError, ValueError):
            rows = {}
        done = [n for n, r in rows.items() if r["status"] == "done"]
        if done and any(r["status"] == "running" for r in rows.values()):
            os.killpg(proc.pid, signal.SIGKILL)  # the study and its measuring process
            break
        time.sleep(0.02)
    proc.wait()
    assert done and len(done) < 4, done
    before, figures = _mtimes(out), {n: manifest(out)["variants"][n]["timings"] for n in done}
    result = run_cli("ablate", str(study), "--out", str(out), cwd=tmp_path)
    assert result.code == 0, result.err
    after = manifest(out)["variants"]
    assert all(r["status"] == "done" for r in after.values()) and len(after) == 4
    for name in done:
        assert _mtimes(out)[name] == before[name] and after[name]["timings"] == figures[name], name
    assert result.err.count("generating and measuring") == 4 - len(done)


@pytest.mark.slow
def test_a_changed_factor_redoes_only_its_rows(run_cli, tmp_path):
    def study(up):
        return write_study(
            tmp_path / "s.yaml", baseline=SMALL, factors={"down": ["maxpool", "hwd"], "up": up}, check=CHECK,
            measure={"repeats": 1, "warmup": 0},
        )  # fmt: skip

    assert run_cli("ablate", str(study(["convtranspose", "dysample"])), "--out", "s", cwd=tmp_path).code == 0
    out = tmp_path / "s"
    before = _mtimes(out)
    result = run_cli("ablate", str(study(["convtranspose", "bilinear"])), "--out", "s", cwd=tmp_path)
    assert result.code == 0, result.err
    after = _mtimes(out)
    assert after["baseline"] == before["baseline"] and after["down-hwd"] == before["down-hwd"]
    assert result.err.count("generating and measuring") == 2
    assert list(rows_of(out)) == ["baseline", "up-bilinear", "down-hwd", "down-hwd__up-bilinear"]
    assert sorted(manifest(out)["retired"]) == ["down-hwd__up-dysample", "up-dysample"]


@pytest.mark.slow
def test_train_two_variants_two_seeds_fills_the_metric_columns(run_cli, tmp_path):
    study = write_study(
        tmp_path / "s.yaml", baseline=SMALL, factors={"down": ["maxpool", "hwd"]}, check=CHECK,
        measure={"repeats": 1, "warmup": 0},
        train={"epochs": 1, "steps_per_epoch": 2, "batch_size": 2, "val_samples": 2, "seeds": 2},
    )  # fmt: skip
    result = run_cli("ablate", str(study), "--out", "s", "--train", "--jobs", "2", cwd=tmp_path)
    assert result.code == 0, result.err
    out = tmp_path / "s"
    table = rows_of(out)
    assert list(table) == ["baseline", "down-hwd"]
    for name, row in table.items():
        assert row["seeds"] == "2" and row["metric"] == "dice", row
        seeds = manifest(out)["variants"][name]["train"]["seeds"]
        values = [seeds[s]["dice"] for s in ("0", "1")]
        assert float(row["metric_mean"]) == pytest.approx(sum(values) / 2)
        assert (out / "variants" / name / "train.py").exists()
    assert table["down-hwd"]["d_metric"] != ""
    assert "dice (mean ± sd)" in (out / "results.md").read_text()
    assert (out / "metric_flops.png").exists()
    again = run_cli("ablate", str(study), "--out", "s", "--train", cwd=tmp_path)  # nothing left to do
    assert again.code == 0 and "seed" not in again.err.replace("seeds", "")


@pytest.mark.slow
def test_slurm_launcher_through_submitit_local_executor_survives_a_cancelled_task(catalog, tmp_path):
    """The launcher's submitit path on submitit's local executor (the real-cluster test is not
    done): the array runs, one cancelled task is reported failed, and a rerun trains only it."""
    pytest.importorskip("submitit")
    from plugscaffold.ablate.runner import Run, run_study
    from plugscaffold.ablate.slurm import submit_and_wait
    from plugscaffold.ablate.train import collect, pending_tasks

    data = {
        "baseline": SMALL, "factors": {"down": ["maxpool", "hwd"]}, "check": CHECK,
        "measure": {"repeats": 1, "warmup": 0},
        "train": {"epochs": 1, "steps_per_epoch": 1, "batch_size": 2, "val_samples": 2, "seeds": 1},
        "slurm": {"cluster": "local", "time": 5, "cpus": 1},
    }  # fmt: skip
    out = tmp_path / "s"
    run = Run(parse_study(data, catalog), out, catalog, train=True)
    run.measure_all()
    tasks = pending_tasks(run)
    assert [(t["variant"], t["seed"]) for t in tasks] == [("baseline", 0), ("down-hwd", 0)]
    submit_and_wait(run, tasks, run.study.slurm, on_submitted=lambda jobs: jobs[1].cancel())
    collect(run)
    run.save()
    rows = manifest(out)["variants"]
    assert rows["baseline"]["train"]["n"] == 1 and rows["baseline"]["train"]["mean"] is not None
    assert rows["down-hwd"]["train"]["failed"] == ["0"]
    assert "SLURM job" in rows["down-hwd"]["train"]["seeds"]["0"]["reason"]
    assert len(manifest(out)["slurm"]["jobs"]) == 2
    script = (out / "slurm" / "sbatch.sh").read_text()
    assert "#SBATCH --array=0-1" in script and "-m plugscaffold.ablate.train" in script
    baseline_result = (out / "variants" / "baseline" / "runs" / "seed0" / "result.json").stat().st_mtime_ns
    again = run_study(parse_study(data, catalog), out, catalog, train=True, launcher="slurm")
    assert again.rows["down-hwd"]["train"]["n"] == 1 and not again.rows["down-hwd"]["train"]["failed"]
    assert (
        out / "variants" / "baseline" / "runs" / "seed0" / "result.json"
    ).stat().st_mtime_ns == baseline_result
    assert "#SBATCH --array=0-0" in (out / "slurm" / "sbatch.sh").read_text()  # only the rerun task


def test_readme_seed001_study_is_the_walkthroughs_three_commands(catalog):
    """The README's seed-001 study describes the same models as the walkthrough's commands."""
    from test_seed001 import readme_commands

    from plugscaffold.spec import make_spec

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = text.split("Seed 001's table as a study", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    study = parse_study(yaml.safe_load(block), catalog)
    assert [v.name for v in study.variants] == ["unet", "dsconv", "msca"]
    for variant, (argv, _) in zip(study.variants, readme_commands()):
        options: dict = {}
        for flag, value in zip(argv[2::2], argv[3::2]):
            key = flag[2:].replace("-", "_")
            options[key] = [*options.get(key, []), value] if key == "attn" else value
        assert variant.canonical == make_spec(catalog, "x", options).options(), variant.name


CLUSTER_LIMIT_S = 480


def _cluster_too_slow(signum, frame):
    raise TimeoutError(f"the SLURM test ran over {CLUSTER_LIMIT_S} s: the cluster stopped scheduling")


@pytest.fixture
def slurm_cluster(tmp_path_factory, monkeypatch):
    """A one-node SLURM cluster with accounting (tests/slurm_cluster.py), stopped by PID afterwards."""
    from slurm_cluster import Cluster, missing

    why = missing() or (
        ""
        if os.environ.get("PLUGSCAFFOLD_SLURM_TEST")
        else "set PLUGSCAFFOLD_SLURM_TEST=1 (as .ci/run does) to start a SLURM cluster"
    )
    if why:
        pytest.skip(why)
    pytest.importorskip("submitit")
    cluster = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        try:
            cluster.start()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:  # the machine, not plugscaffold
            pytest.skip(f"the SLURM cluster did not start here: {str(exc)[:300]}")
        monkeypatch.setenv("SLURM_CONF", cluster.env["SLURM_CONF"])
        # A cluster that stops scheduling must fail this test, not hang the suite (and CI):
        # the alarm raises in the test, and the daemons are still stopped below.
        previous = signal.signal(signal.SIGALRM, _cluster_too_slow)
        signal.alarm(CLUSTER_LIMIT_S)
        try:
            yield cluster
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    finally:
        cluster.stop()
        assert cluster.alive() == [], "a daemon the test started still runs"


@pytest.mark.slow
def test_slurm_launcher_on_a_real_cluster_survives_scancel_of_one_task(slurm_cluster, catalog, tmp_path):
    from plugscaffold.ablate.runner import Run, run_study
    from plugscaffold.ablate.slurm import submit_and_wait
    from plugscaffold.ablate.train import collect, pending_tasks

    data = {
        "baseline": SMALL, "factors": {"down": ["maxpool", "hwd"], "up": ["convtranspose", "dysample"]},
        "check": CHECK, "measure": {"repeats": 1, "warmup": 0},
        "train": {"epochs": 1, "steps_per_epoch": 1, "batch_size": 2, "val_samples": 2, "seeds": 1},
        "slurm": {"time": 10, "cpus": 1},
    }  # fmt: skip
    out = tmp_path / "s"
    run = Run(parse_study(data, catalog), out, catalog, train=True)
    run.measure_all()
    tasks = pending_tasks(run)
    assert len(tasks) == 4

    def cancel_last(jobs):
        subprocess.run(["scancel", jobs[3].job_id], check=True, env=slurm_cluster.env)

    submit_and_wait(run, tasks, run.study.slurm, on_submitted=cancel_last)
    collect(run)
    run.save()
    rows = manifest(out)["variants"]
    cancelled = tasks[3]["variant"]
    assert rows[cancelled]["train"]["failed"] == ["0"], rows[cancelled]["train"]
    assert "SLURM job" in rows[cancelled]["train"]["seeds"]["0"]["reason"]
    for name in rows:
        if name != cancelled:
            assert rows[name]["train"]["n"] == 1 and rows[name]["train"]["mean"] is not None, name
    again = run_study(parse_study(data, catalog), out, catalog, train=True, launcher="slurm")
    assert all(row["train"]["n"] == 1 and not row["train"]["failed"] for row in again.rows.values())
    assert "#SBATCH --array=0-0" in (out / "slurm" / "sbatch.sh").read_text()  # only the cancelled task again


def test_the_example_study_is_valid(catalog):
    study = read_study(Path(__file__).resolve().parent.parent / "examples" / "ablation.yaml", catalog)
    assert len(study.variants) == 8 and study.variants[0].name == "baseline"
    assert study.check["size"] == [64, 64] and study.design == "grid"


def test_tables_use_the_one_number_format():
    from plugscaffold.ablate.tables import _human
    from plugscaffold.report import human

    assert human(1234567) == "1.23 M" and human(999) == "999" and human(2.5e12) == "2.50 T"
    assert _human(1234, "B") == human(1234, "B") == "1.23 KB"
    assert _human(12, "B") == "12 B" and _human(None) == "-"
