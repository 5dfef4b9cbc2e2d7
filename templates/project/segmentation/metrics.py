"""Validation metrics of the segmentation model: Dice and IoU (train.py logs both)."""

from __future__ import annotations

import torch

MAIN_METRIC = "dice"  # picks best.pt and --target
METRICS = ("dice", "iou")


def scores(counts: torch.Tensor) -> dict[str, float]:
    """Dice and IoU averaged over the foreground classes (1 .. LABELS-1).

    ``counts`` is train.confusion's (LABELS, LABELS) matrix (row = true label, column =
    predicted label) summed over the whole validation set (and all processes), so the
    result does not depend on the batch size or the number of processes. A class absent
    from both the prediction and the truth is left out of the average.
    """
    counts = counts.double()
    hits = counts.diag()
    predicted, true = counts.sum(0), counts.sum(1)
    dice, iou = [], []
    for c in range(1, counts.shape[0]):
        if predicted[c] + true[c] > 0:
            dice.append(2 * hits[c] / (predicted[c] + true[c]))
            iou.append(hits[c] / (predicted[c] + true[c] - hits[c]))
    if not dice:
        return {"dice": 1.0, "iou": 1.0}
    return {"dice": sum(dice).item() / len(dice), "iou": sum(iou).item() / len(iou)}
