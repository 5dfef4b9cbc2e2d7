"""Image helpers that data.py, train.py and predict.py share: reading image files (with
Pillow, imported only when a file is read) and drawing the synthetic shapes.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import torch

SHAPES = ("circle", "rectangle", "triangle", "ring", "cross")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class DataError(Exception):
    """A problem with the data a person can fix: a missing folder, unmatched files."""


class BadSample(DataError):
    """A file that cannot be used, found when it is read (by whichever process reads
    it)."""


# --- synthetic shapes -----------------------------------------------------------------


def draw(
    kind: str,
    yy: torch.Tensor,
    xx: torch.Tensor,
    rng: random.Random,
    radius: tuple[float, float] = (0.1, 0.25),
) -> torch.Tensor:
    """Boolean (H, W) mask of one random shape of ``kind``, its radius a random fraction
    in ``radius`` of the image's shorter side."""
    height, width = yy.shape
    side = min(height, width)
    r = rng.uniform(*radius) * side
    cy = rng.uniform(r, height - r) if height > 2 * r else height / 2
    cx = rng.uniform(r, width - r) if width > 2 * r else width / 2
    dy, dx = yy - cy, xx - cx
    if kind == "circle":
        return dy**2 + dx**2 <= r**2
    if kind == "rectangle":
        ratio = rng.uniform(0.5, 1.0)
        return (dy.abs() <= r * ratio) & (dx.abs() <= r)
    if kind == "ring":
        distance = (dy**2 + dx**2).sqrt()
        return (distance <= r) & (distance >= 0.55 * r)
    if kind == "cross":
        arm = r / 3
        return ((dy.abs() <= arm) & (dx.abs() <= r)) | (
            (dx.abs() <= arm) & (dy.abs() <= r)
        )
    if kind == "triangle":
        start = rng.uniform(0, 2 * math.pi)
        corners = [
            (
                cy + r * math.sin(start + k * 2 * math.pi / 3),
                cx + r * math.cos(start + k * 2 * math.pi / 3),
            )
            for k in range(3)
        ]
        sides = []
        for (y1, x1), (y2, x2) in zip(corners, corners[1:] + corners[:1]):
            sides.append((x2 - x1) * (yy - y1) - (y2 - y1) * (xx - x1))
        return ((sides[0] >= 0) & (sides[1] >= 0) & (sides[2] >= 0)) | (
            (sides[0] <= 0) & (sides[1] <= 0) & (sides[2] <= 0)
        )
    raise ValueError(f"unknown shape {kind}")


# --- image files ----------------------------------------------------------------------


def pillow():
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            "reading real images needs Pillow: pip install pillow "
            "(synthetic data needs only torch)"
        ) from None
    return Image


def images_in(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def image_folder(folder: Path) -> list[Path]:
    """The images in ``folder`` (as predict.py reads them); one line when there are
    none."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    files = images_in(folder)
    if not files:
        raise DataError(f"{folder} has no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def to_tensor(picture) -> torch.Tensor:
    """A PIL image as a (C, H, W) uint8 tensor (no numpy needed)."""
    data = torch.frombuffer(bytearray(picture.tobytes()), dtype=torch.uint8)
    return data.view(picture.height, picture.width, -1).permute(2, 0, 1)


def read_picture(path: Path, convert):
    """``convert(picture)`` of the image file ``path``; an unreadable file is named."""
    try:
        with pillow().open(path) as picture:
            picture.load()
            return convert(picture)
    except OSError as exc:  # not an image, truncated, unreadable
        raise BadSample(f"{path} cannot be read as an image: {exc}") from None


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of the image file ``path``."""
    return read_picture(path, lambda picture: (picture.height, picture.width))


def load_image(path: Path, size: tuple[int, int], in_channels: int) -> torch.Tensor:
    """(in_channels, H, W) float in [0, 1], resized to ``size``."""
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    if in_channels not in modes:
        raise DataError(
            f"images with {in_channels} channels cannot be read from {path.suffix} "
            "files; write your own Dataset for them"
        )

    def convert(picture) -> torch.Tensor:
        picture = picture.convert(modes[in_channels])
        picture = picture.resize((size[1], size[0]), resampling().BILINEAR)
        return to_tensor(picture).float() / 255

    return read_picture(path, convert)


def resampling():
    Image = pillow()
    return getattr(
        Image, "Resampling", Image
    )  # Pillow >= 9.1 names them Image.Resampling
