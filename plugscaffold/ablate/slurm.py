"""The SLURM launcher: the training runs as one job array, submitted with submitit."""

from __future__ import annotations

from ..errors import PlugscaffoldError


def submit_and_wait(run, tasks, slurm):
    raise PlugscaffoldError("--launcher slurm is not implemented yet")
