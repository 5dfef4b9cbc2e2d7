"""The SLURM launcher: the study's training runs as one job array, submitted with submitit.

Each array task runs :func:`plugscaffold.ablate.train.run_task` (task INDEX of OUT/tasks.json:
train.py in the variant's folder, through torchrun when it has more than one GPU), which writes
the run's result.json; the results come back into the manifest whichever way the task ran.
OUT/slurm/sbatch.sh is the same array for ``sbatch`` by hand.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from typing import Callable

from ..errors import PlugscaffoldError

SBATCH = "slurm/sbatch.sh"


def sbatch_script(run, count: int, slurm: dict) -> str:
    """An sbatch array script that runs the pending tasks of OUT/tasks.json (one per index)."""
    out = run.out.resolve()
    hours, minutes = divmod(int(slurm["time"]), 60)
    lines = [
        "#!/bin/bash",
        f"# The training runs of study {run.study.name} as one array; resubmit by hand with:",
        f"#   sbatch {out / SBATCH}",
        "# then collect the results into the manifest with the study's command (plugscaffold ablate ...).",
        f"#SBATCH --job-name=ablate-{run.study.name}",
        f"#SBATCH --array=0-{max(count - 1, 0)}",
        f"#SBATCH --time={hours:02d}:{minutes:02d}:00",
        f"#SBATCH --cpus-per-task={slurm['cpus']}",
        f"#SBATCH --output={out}/slurm/sbatch_%A_%a.out",
    ]
    if slurm["gpus"]:
        lines.append(f"#SBATCH --gpus-per-node={slurm['gpus']}")
    if slurm["partition"]:
        lines.append(f"#SBATCH --partition={slurm['partition']}")
    if slurm.get("mem_gb"):
        lines.append(f"#SBATCH --mem={slurm['mem_gb']}G")
    lines += [
        f"cd {shlex.quote(str(out))}",
        f"exec {shlex.quote(sys.executable)} -m plugscaffold.ablate.train {shlex.quote(str(out))} "
        f'"$SLURM_ARRAY_TASK_ID" {int(slurm["gpus"])}',
    ]
    return "\n".join(lines) + "\n"


def executor(run, slurm: dict, count: int):
    """submitit's executor for the array: SLURM, or (``cluster: local`` / ``debug``) this machine."""
    try:
        import submitit
    except ImportError:
        raise PlugscaffoldError(
            "--launcher slurm needs the submitit package: pip install 'plugscaffold[slurm]'"
        ) from None
    cluster = slurm.get("cluster")
    if cluster is None and shutil.which("sbatch") is None:
        raise PlugscaffoldError(
            "--launcher slurm: sbatch is not on PATH here; run on the cluster's login node "
            f"(or submit {run.out / SBATCH} by hand)"
        )
    made = submitit.AutoExecutor(folder=run.out / "slurm" / "%j", cluster=cluster or "slurm")
    params = {
        "timeout_min": int(slurm["time"]),
        "cpus_per_task": int(slurm["cpus"]),
        "name": f"ablate-{run.study.name}",
    }
    if slurm["gpus"]:
        params["gpus_per_node"] = int(slurm["gpus"])
    if slurm.get("mem_gb"):
        params["mem_gb"] = slurm["mem_gb"]
    if (cluster or "slurm") == "slurm":
        params["slurm_array_parallelism"] = count
        if slurm["partition"]:
            params["slurm_partition"] = slurm["partition"]
    made.update_parameters(**params)
    return made


def submit_and_wait(run, tasks: list[dict], slurm: dict, on_submitted: Callable | None = None) -> None:
    """Submit ``tasks`` as one array and wait for it; a task that ends without a result (cancelled,
    timed out, node failure) gets a failed result.json with the reason, so that the next run of
    the study reports it and submits it again."""
    from .runner import Progress, write_files
    from .train import TASKS, run_dir, run_task

    if not tasks:
        return
    write_files(run.out, {SBATCH: sbatch_script(run, len(tasks), slurm)})
    made = executor(run, slurm, len(tasks))
    count = len(tasks)
    jobs = made.map_array(run_task, [str(run.out)] * count, list(range(count)), [int(slurm["gpus"])] * count)
    run.manifest["slurm"] = {
        "jobs": [job.job_id for job in jobs],
        "tasks": TASKS,
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sbatch": SBATCH,
    }
    run.save()
    print(f"Submitted    {count} training runs as job array {jobs[0].job_id.split('_')[0]}", file=run.stream)
    if on_submitted is not None:
        on_submitted(jobs)
    progress = Progress(count, run.stream)
    states = {f"{t['variant']}/seed{t['seed']}": {"status": "running"} for t in tasks}
    waiting = dict(enumerate(zip(jobs, tasks)))
    gone: dict[int, float] = {}
    started = time.perf_counter()
    while waiting:
        for index, (job, task) in list(waiting.items()):
            result = _finished(job, task, gone, index)
            if result is None:
                continue
            del waiting[index]
            if not result.get("ok"):
                where = run_dir(run.out, task["variant"], task["seed"])
                where.mkdir(parents=True, exist_ok=True)
                write_files(where, {"result.json": json.dumps(result) + "\n"})
            key = f"{task['variant']}/seed{task['seed']}"
            states[key]["status"] = "done" if result.get("ok") else "failed"
            progress.durations.append((time.perf_counter() - started) / max(1, count - len(waiting)))
            progress.show(states, key, "done" if result.get("ok") else result["reason"], unit="training run")
        if waiting:
            time.sleep(POLL)


#: Seconds between looks at the array; and how long a task may be out of the queue without a
#: result before it counts as failed (submitit alone waits forever for a task cancelled while
#: pending: sacct reports it under the array's record, never under the task's id).
POLL, GONE = 2.0, 20.0
_ENDED = (
    "CANCELLED",
    "FAILED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
)


def _finished(job, task: dict, gone: dict, index: int) -> dict | None:
    """The task's result once its job has ended (a failed one with the reason), else None."""
    failed = {"train_hash": task["train_hash"], "seed": task["seed"], "ok": False}
    if job.done():
        try:
            return job.result()
        except Exception as exc:  # UncompletedJobError, FailedJobError: one line for the row
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return {**failed, "reason": f"SLURM job {job.job_id}: {type(exc).__name__}: {text}"[:300]}
    state = str(job.state).split()[0]
    if state.startswith(_ENDED):
        return {**failed, "reason": f"SLURM job {job.job_id} ended {state} without a result"}
    if _queued(job.job_id):
        gone.pop(index, None)
        return None
    first = gone.setdefault(index, time.monotonic())
    if time.monotonic() - first > GONE:
        return {**failed, "reason": f"SLURM job {job.job_id} left the queue without a result (state {state})"}
    return None


def _queued(job_id: str) -> bool:
    """Whether squeue still lists the job (pending or running); True when squeue cannot say."""
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i", "-j", job_id], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return True
    if proc.returncode != 0:
        return "Invalid job id" not in proc.stderr
    return job_id in proc.stdout.split()
