"""Segment a folder of images with a trained model: one mask file per image.

Written by plugscaffold beside model.py and train.py:

    python predict.py IMAGES                    # runs/best.pt -> predictions/NAME.png
    python predict.py IMAGES --checkpoint runs/last.pt --out masks --size 512

Each image is resized to the size the checkpoint was trained at (or --size), run through
the model, and its logits are resized back to the image's own size before the class
of each pixel is taken. A mask is a single-channel PNG: the class index of each pixel
(0 = background), or 0/255 for a binary model, so data.py reads it back as a training mask.
Needs Pillow (pip install pillow).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from images import IMAGE_SUFFIXES, DataError, image_size, images_in, load_image, pillow
from train import (
    IN_CHANNELS,
    LABELS,
    SIZE,
    TrainError,
    build_model,
    parse_size,
    predict,
    read_checkpoint,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write a predicted mask for every image in a folder.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("images", type=Path, help="folder of images to segment")
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        type=Path,
        default=Path("runs/best.pt"),
        help="from train.py",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("predictions"),
        help="folder for the masks",
    )
    parser.add_argument(
        "--size",
        metavar="HxW",
        type=parse_size,
        default=None,
        help="input size N or HxW; none: the size the checkpoint was trained at",
    )
    return parser.parse_args(argv)


def load_model(path: Path, device: torch.device) -> tuple[torch.nn.Module, tuple]:
    """The trained model in eval mode, and the (H, W) it was trained at."""
    if not path.is_file():
        raise DataError(
            f"--checkpoint {path}: no such file; train first (python train.py) "
            "or pass the checkpoint to use"
        )
    state = read_checkpoint(path)
    model = build_model()
    model.load_state_dict(state["model"])
    return model.to(device).eval(), tuple(state.get("size", SIZE))


def save_mask(labels: torch.Tensor, path: Path) -> None:
    """(H, W) class indices as a single-channel PNG (0/255 for a binary model)."""
    values = labels.to(torch.uint8) * (255 if LABELS == 2 else 1)
    height, width = values.shape
    picture = pillow().frombytes("L", (width, height), bytes(values.flatten().tolist()))
    picture.save(path)


def segment(args: argparse.Namespace) -> int:
    """Write a mask for every image in ``args.images``; returns how many."""
    if not args.images.is_dir():
        raise DataError(f"{args.images}: no such folder")
    if args.out.resolve() == args.images.resolve():
        raise DataError(
            "--out must not be the images folder: masks would replace images"
        )
    files = images_in(args.images)
    if not files:
        raise DataError(f"{args.images} has no images ({', '.join(IMAGE_SUFFIXES)})")
    stems = [p.stem for p in files]
    twins = sorted({s for s in stems if stems.count(s) > 1})
    if twins:
        raise DataError(
            f"images in {args.images} share a name, so their masks would too: "
            f"{', '.join(twins[:5])}"
        )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, trained_size = load_model(args.checkpoint, device)
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
