"""Validation metrics of the classifier: accuracy and balanced accuracy (train.py
logs both)."""

from __future__ import annotations

import torch

MAIN_METRIC = "accuracy"  # picks best.pt and --target
METRICS = ("accuracy", "balanced_accuracy")


def scores(counts: torch.Tensor) -> dict[str, float]:
    """Accuracy (correct / all) and balanced accuracy (recall averaged over the classes
    that occur in the truth).

    ``counts`` is train.confusion's (LABELS, LABELS) matrix (row = true label, column =
    predicted label) summed over the whole validation set (and all processes), so the
    result does not depend on the batch size or the number of processes.
    """
    counts = counts.double()
    hits, true = counts.diag(), counts.sum(1)
    total = counts.sum()
    if total == 0:
        return {"accuracy": 0.0, "balanced_accuracy": 0.0}
    present = true > 0
    recall = hits[present] / true[present]
    return {
        "accuracy": (hits.sum() / total).item(),
        "balanced_accuracy": recall.mean().item(),
    }
