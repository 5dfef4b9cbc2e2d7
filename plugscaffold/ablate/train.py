"""Training the variants fairly: each project's train.py with the same data, seed, budget and schedule.

Every training run is a task of ``OUT/tasks.json`` (variant, seed, settings); a task runs
``train.py`` in the variant's folder (through torchrun when it has more than one GPU) and
writes ``variants/NAME/runs/seedS/result.json``. Whoever ran it (a local thread, a submitit
job, or ``sbatch OUT/slurm/sbatch.sh`` by hand, which runs ``python -m plugscaffold.ablate.train
OUT INDEX``), the next ``plugscaffold ablate`` collects the results into the manifest.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ..files import replacing

TASKS = "tasks.json"


def run_dir(out: Path, variant: str, seed: int) -> Path:
    return out / "variants" / variant / "runs" / f"seed{seed}"


def read_result(out: Path, variant: str, seed: int, train_hash: str) -> dict | None:
    path = run_dir(out, variant, seed) / "result.json"
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and result.get("train_hash") == train_hash else None


def pending_tasks(run) -> list[dict]:
    """The (variant, seed) runs without a successful result for the current training settings;
    written to tasks.json (with the settings), which is all a task needs."""
    tasks = []
    for variant in run.study.variants:
        if run.rows[variant.name].get("status") != "done":
            continue
        key = run.study.train_hash(variant)
        for seed in range(run.study.train["seeds"]):
            result = read_result(run.out, variant.name, seed, key)
            if result is None or not result.get("ok"):
                tasks.append({"variant": variant.name, "seed": seed, "train_hash": key})
    from .runner import write_files

    write_files(run.out, {TASKS: json.dumps({"train": run.study.train, "tasks": tasks}, indent=1) + "\n"})
    return tasks


def command(settings: dict, seed: int, gpus: int = 0) -> list[str]:
    """train.py's command line for one run (torchrun with one process per GPU when gpus > 1)."""
    args = [
        "train.py", "--epochs", str(settings["epochs"]),
        "--steps-per-epoch", str(settings["steps_per_epoch"]),
        "--batch-size", str(settings["batch_size"]), "--val-samples", str(settings["val_samples"]),
        "--lr", str(settings["lr"]), "--seed", str(seed), "--out", f"runs/seed{seed}",
    ]  # fmt: skip
    if settings.get("data"):
        args += ["--data", str(Path(settings["data"]).resolve())]
    if gpus > 1:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={gpus}",
            *args,
        ]
    return [sys.executable, *args]


def run_task(out: str, index: int, gpus: int = 0) -> dict:
    """Run task ``index`` of OUT/tasks.json; its result is also written to result.json."""
    out_path = Path(out)
    data = json.loads((out_path / TASKS).read_text(encoding="utf-8"))
    return train_one(out_path, data["tasks"][index], data["train"], gpus)


def train_one(out: Path, task: dict, settings: dict, gpus: int = 0) -> dict:
    folder = out / "variants" / task["variant"]
    where = run_dir(out, task["variant"], task["seed"])
    where.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(where / "train.log", "w", encoding="utf-8") as log:
        code = subprocess.run(
            command(settings, task["seed"], gpus), cwd=folder, stdout=log, stderr=subprocess.STDOUT
        ).returncode
    result: dict = {
        "train_hash": task["train_hash"],
        "seed": task["seed"],
        "seconds": round(time.perf_counter() - started, 2),
    }
    rows = []
    try:
        with open(where / "metrics.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        pass
    if code == 0 and rows:
        last = rows[-1]
        result.update(ok=True, epochs=int(last["epoch"]), dice=float(last["val_dice"]),
                      iou=float(last["val_iou"]), val_loss=float(last["val_loss"]))  # fmt: skip
    else:
        text = (where / "train.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
        result.update(ok=False, reason=f"train.py exited {code}: {(text or ['no output'])[-1][:300]}")
    with replacing(where / "result.json") as tmp:
        tmp.write_text(json.dumps(result) + "\n", encoding="utf-8")
    return result


def run_local(run, tasks: list[dict], jobs: int) -> None:
    """Run ``tasks`` here, ``jobs`` at a time (each a train.py process)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from .runner import Progress

    progress = Progress(len(tasks), run.stream)
    states = {
        f"{t['variant']}/seed{t['seed']}": {"status": "running" if i < jobs else "pending"}
        for i, t in enumerate(tasks)
    }
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(train_one, run.out, task, run.study.train): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            key = f"{task['variant']}/seed{task['seed']}"
            result = future.result()
            states[key]["status"] = "done" if result["ok"] else "failed"
            waiting = [k for k, s in states.items() if s["status"] == "pending"]
            if waiting:
                states[waiting[0]]["status"] = "running"
            progress.durations.append(result["seconds"] / max(jobs, 1))
            event = (
                f"{run.study.train['metric']} {result[run.study.train['metric']]:.4f}"
                if result["ok"]
                else result["reason"]
            )
            progress.show(states, key, event, unit="training run")


def run_slurm(run, tasks: list[dict], slurm: dict) -> None:
    from .slurm import submit_and_wait

    submit_and_wait(run, tasks, slurm)


def collect(run) -> None:
    """Put every recorded training result into its row: per seed, and mean and spread."""
    metric = run.study.train["metric"]
    for variant in run.study.variants:
        row = run.rows[variant.name]
        if row.get("status") != "done":
            continue
        key = run.study.train_hash(variant)
        seeds = {}
        for seed in range(run.study.train["seeds"]):
            result = read_result(run.out, variant.name, seed, key)
            if result is not None:
                seeds[str(seed)] = result
        values = [r[metric] for r in seeds.values() if r.get("ok")]
        row["train"] = {
            "hash": key,
            "metric": metric,
            "seeds": seeds,
            "n": len(values),
            "mean": statistics.mean(values) if values else None,
            "spread": statistics.stdev(values) if len(values) > 1 else 0.0 if values else None,
            "failed": [s for s, r in seeds.items() if not r.get("ok")],
        }


if __name__ == "__main__":  # python -m plugscaffold.ablate.train OUT INDEX [GPUS]  (sbatch.sh)
    done = run_task(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    print(json.dumps(done))
    sys.exit(0 if done.get("ok") else 1)
