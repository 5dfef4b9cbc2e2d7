"""Data for train.py: synthetic class patterns (the default) or a folder of your own
images.

Synthetic data is drawn on the fly from (seed, index) alone, so sample i is the same in
every epoch, process and DataLoader worker. Sample i's label is i modulo the number of
labels (so every class is equally common), and the label decides what is drawn on a
noisy background with a random gradient:

- one shape, SHAPES[label % 5] (circle, rectangle, triangle, ring, cross), of random
  size and place, in a colour brighter or darker than the background;
- its texture, TEXTURES[label % 4]: solid, horizontal or vertical stripes, checks (as 5
  and 4 share no factor, the 20 labels 0..19 each get their own shape and texture pair);
- with more than 20 labels, label // 20 % 2 picks the shape brighter or darker;
- with more than 40 labels, label // 40 is written in binary in a strip of cells along
  the top rows (bright cell = 1), so any number of classes gets distinct patterns.

One output channel (CLASSES = 1) means two labels, 0 and 1.

A folder (train.py --data DIR) holds one subfolder per class, DIR/CLASS/NAME.png; the
classes are the subfolders' names in sorted order (class 0 is the first). DIR/train/ and
DIR/val/ (each with the same class subfolders) are used when both exist, otherwise a
seeded 10% of DIR is held out for validation.

Images are resized to --size. Real images need Pillow (pip install pillow), imported
only when a folder is read; synthetic data needs only torch.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from images import IMAGE_SUFFIXES, SHAPES, DataError, draw, images_in, load_image

TEXTURES = ("solid", "horizontal", "vertical", "checks")
LOOKS = len(SHAPES) * len(TEXTURES) * 2  # shape x texture x brighter/darker


# --- synthetic class patterns ---------------------------------------------------------


class SyntheticClasses(Dataset):
    """Class patterns drawn from (seed, index): (image (C, H, W) in [0, 1],
    label ())."""

    def __init__(
        self,
        length: int,
        size: tuple[int, int],
        in_channels: int,
        classes: int,
        seed: int = 0,
    ) -> None:
        self.length, self.size = length, size
        self.in_channels, self.seed = in_channels, seed
        self.labels = max(classes, 2)
        self.bits = max(0, math.ceil(math.log2(math.ceil(self.labels / LOOKS))))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = random.Random(self.seed * 1_000_003 + index)
        gen = torch.Generator().manual_seed(rng.getrandbits(63))
        label = (index + self.seed) % self.labels
        height, width = self.size
        yy, xx = torch.meshgrid(
            torch.arange(height, dtype=torch.float32),
            torch.arange(width, dtype=torch.float32),
            indexing="ij",
        )
        background = torch.tensor(
            [rng.uniform(0.35, 0.65) for _ in range(self.in_channels)]
        )
        image = background[:, None, None].expand(-1, height, width).clone()
        image += 0.15 * (yy / max(1, height - 1) - 0.5) * rng.choice((-1, 1))
        inside = draw(SHAPES[label % len(SHAPES)], yy, xx, rng, radius=(0.22, 0.4))
        inside &= pattern(TEXTURES[label % len(TEXTURES)], yy, xx)
        if self.labels > len(SHAPES) * len(TEXTURES):
            sign = 1 if label // (len(SHAPES) * len(TEXTURES)) % 2 else -1
        else:
            sign = rng.choice((-1, 1))
        colour = background + sign * rng.uniform(0.25, 0.35)
        image[:, inside] = colour[:, None]
        if self.bits:
            write_bits(image, label // LOOKS, self.bits)
        image += 0.05 * torch.randn(image.shape, generator=gen)
        return image.clamp(0, 1), torch.tensor(label)


def pattern(texture: str, yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    """Boolean (H, W): where a shape of ``texture`` is coloured (stripes 2 px wide at
    32 px, scaling with the image)."""
    period = max(2, min(yy.shape) // 8)
    rows, cols = (yy // period) % 2 == 0, (xx // period) % 2 == 0
    if texture == "solid":
        return torch.ones_like(rows)
    if texture == "horizontal":
        return rows
    if texture == "vertical":
        return cols
    if texture == "checks":
        return rows ^ cols
    raise ValueError(f"unknown texture {texture}")


def write_bits(image: torch.Tensor, number: int, bits: int) -> None:
    """``number`` in binary across the top rows of ``image``: one cell per bit."""
    height, width = image.shape[1:]
    rows = max(2, height // 10)
    cell = width / bits
    for bit in range(bits):
        value = 0.95 if number >> bit & 1 else 0.05
        image[:, :rows, round(bit * cell) : round((bit + 1) * cell)] = value


# --- folders of real images -----------------------------------------------------------


class ClassFolder(Dataset):
    """(image, label) pairs from DIR/CLASS/*.png: a subfolder per class, sorted by
    name."""

    def __init__(
        self, root: Path, size, in_channels: int, classes: int, names=None
    ) -> None:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        self.names = [p.name for p in folders] if names is None else names
        labels = max(classes, 2)
        if [p.name for p in folders] != self.names:
            raise DataError(
                f"{root} has the class folders {', '.join(p.name for p in folders)}; "
                f"expected the same as the training folder: {', '.join(self.names)}"
            )
        if len(folders) != labels:
            shown = ", ".join(p.name for p in folders[:8]) or "none"
            raise DataError(
                f"{root} has {len(folders)} class folder(s) ({shown}), but the model "
                f"has {labels} classes; a class folder is DIR/CLASS/NAME.png (or "
                f"generate the model with --classes {len(folders)})"
            )
        self.samples = []
        for label, folder in enumerate(folders):
            files = images_in(folder)
            if not files:
                raise DataError(
                    f"class folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)})"
                )
            self.samples += [(path, label) for path in files]
        self.size, self.in_channels = size, in_channels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        return load_image(path, self.size, self.in_channels), torch.tensor(label)


def make_datasets(
    data: Path | None,
    *,
    size: tuple[int, int],
    in_channels: int,
    classes: int,
    train_samples: int,
    val_samples: int,
    seed: int,
) -> tuple[Dataset, Dataset]:
    """(train, validation) datasets: synthetic when ``data`` is None, else a folder."""
    if data is None:
        train = SyntheticClasses(
            train_samples, size, in_channels, classes, seed=2 * seed
        )
        val = SyntheticClasses(
            val_samples, size, in_channels, classes, seed=2 * seed + 1
        )
        return train, val
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"--data {data}: no such folder")
    if (data / "train").is_dir() and (data / "val").is_dir():
        train = ClassFolder(data / "train", size, in_channels, classes)
        return train, ClassFolder(data / "val", size, in_channels, classes, train.names)
    full = ClassFolder(data, size, in_channels, classes)
    if len(full) < 2:
        raise DataError(f"{data} has {len(full)} sample(s); at least 2 are needed")
    order = list(range(len(full)))
    random.Random(seed).shuffle(order)
    held = max(1, len(full) // 10)
    return Subset(full, order[held:]), Subset(full, order[:held])
