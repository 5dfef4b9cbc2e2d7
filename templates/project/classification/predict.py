"""Classify a folder of images with a trained model: one CSV row per image.

Written by plugscaffold beside model.py and train.py:

    python predict.py IMAGES                    # runs/best.pt -> predictions.csv
    python predict.py IMAGES --checkpoint runs/last.pt --out labels.csv --size 224

Each image is resized to the size the checkpoint was trained at (or --size) and run
through the model. A row is the image's file name, its predicted class index (with a
folder of your own data, class k is the k-th class folder in sorted order) and the
model's probability for that class. Needs Pillow (pip install pillow).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

from images import DataError, image_folder, load_image
from train import (
    CLASSES,
    IN_CHANNELS,
    TrainError,
    add_checkpoint_option,
    add_size_option,
    load_trained,
    predict,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write the predicted class of every image in a folder to a CSV "
        "file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("images", type=Path, help="folder of images to classify")
    add_checkpoint_option(parser)
    parser.add_argument(
        "--out",
        metavar="CSV",
        type=Path,
        default=Path("predictions.csv"),
        help="the file for the predictions",
    )
    add_size_option(parser)
    return parser.parse_args(argv)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(B, LABELS) class probabilities of (B, CLASSES) logits."""
    if CLASSES == 1:
        positive = torch.sigmoid(logits.float())
        return torch.cat([1 - positive, positive], dim=1)
    return torch.softmax(logits.float(), dim=1)


def classify(args: argparse.Namespace) -> int:
    """Write a row for every image in ``args.images``; returns how many."""
    files = image_folder(args.images)
    if args.out.is_dir():
        raise DataError(f"--out {args.out} is a folder; pass the CSV file to write")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, trained_size = load_trained(args.checkpoint, device)
    size = args.size or trained_size
    rows = []
    with torch.no_grad():
        for path in files:
            image = load_image(path, size, IN_CHANNELS)[None].to(device)
            logits = model(image)
            label = int(predict(logits)[0])
            chance = float(probabilities(logits)[0, label])
            rows.append({"file": path.name, "class": label, "probability": chance})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "class", "probability"])
        writer.writeheader()
        writer.writerows({**r, "probability": f"{r['probability']:.4f}"} for r in rows)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        count = classify(args)
    except (DataError, TrainError) as exc:
        print(f"predict.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {count} predictions to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
