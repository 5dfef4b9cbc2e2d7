"""Ablation studies: every variant of a study generated, checked, measured, trained and tabulated.

``plugscaffold ablate STUDY.yaml`` (or the short form ``plugscaffold ablate NAME --down
maxpool,hwd ...``). The parts: study.py (the spec -> named, hashed variants), measure.py
(generate() with a worker that measures in one torch process), runner.py (the study folder,
manifest, resume, progress), train.py (fair training runs), slurm.py (submitit), tables.py.
"""

from .runner import ROW_HOOKS, Run, run_study
from .study import Study, StudyError, Variant, parse_study, read_study

__all__ = ["ROW_HOOKS", "Run", "Study", "StudyError", "Variant", "parse_study", "read_study", "run_study"]
