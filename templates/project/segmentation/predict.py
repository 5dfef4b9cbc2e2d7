"""Segment a folder of images with a trained model: one mask file per image.

Written by plugscaffold beside model.py and train.py:

    python predict.py IMAGES                    # runs/best.pt -> predictions/NAME.png
    python predict.py IMAGES --checkpoint runs/last.pt --out masks --size 512

Each image is resized to the size the checkpoint was trained at (or --size), run through
the model, and its logits are resized back to the image's own size before the class
of each pixel is taken. A mask is a single-channel PNG: the class index of each pixel
(0 = background), or 0/255 for a binary model, so data.py reads it back as a training
mask.
Needs Pillow (pip install pillow).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from images import DataError, image_folder, image_size, load_image, pillow
from train import (
    IN_CHANNELS,
    LABELS,
    TrainError,
    add_checkpoint_option,
    add_size_option,
    load_trained,
    predict,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write a predicted mask for every image in a folder.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("images", type=Path, help="folder of images to segment")
    add_checkpoint_option(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("predictions"),
        help="folder for the masks",
    )
    add_size_option(parser)
    return parser.parse_args(argv)


def save_mask(labels: torch.Tensor, path: Path) -> None:
    """(H, W) class indices as a single-channel PNG (0/255 for a binary model)."""
    values = labels.to(torch.uint8) * (255 if LABELS == 2 else 1)
    height, width = values.shape
    picture = pillow().frombytes("L", (width, height), bytes(values.flatten().tolist()))
    picture.save(path)


def segment(args: argparse.Namespace) -> int:
    """Write a mask for every image in ``args.images``; returns how many."""
    files = image_folder(args.images)
    if args.out.resolve() == args.images.resolve():
        raise DataError(
            "--out must not be the images folder: masks would replace images"
        )
    stems = [p.stem for p in files]
    twins = sorted({s for s in stems if stems.count(s) > 1})
    if twins:
        raise DataError(
            f"images in {args.images} share a name, so their masks would too: "
            f"{', '.join(twins[:5])}"
        )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, trained_size = load_trained(args.checkpoint, device)
    size = args.size or trained_size
    args.out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for path in files:
            image = load_image(path, size, IN_CHANNELS)[None].to(device)
            logits = F.interpolate(
                model(image).float(),
                size=image_size(path),
                mode="bilinear",
                align_corners=False,
            )
            save_mask(predict(logits)[0].cpu(), args.out / f"{path.stem}.png")
    return len(files)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        count = segment(args)
    except (DataError, TrainError) as exc:
        print(f"predict.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {count} masks to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
