"""Data for train.py: synthetic shapes (the default) or a folder of your own images.

Synthetic data is drawn on the fly from (seed, index) alone, so sample i is the same in
every epoch, process and DataLoader worker. Shapes are circles, rectangles, triangles,
rings and crosses on a noisy background:

1-4 shapes per image; with 2 classes (or 1 output channel) the mask is foreground (1) /
background (0); with more classes, class k (1, 2, ...) is shape kind k-1 in SHAPES
(background is 0), and only the first CLASSES-1 kinds are drawn.

A folder (train.py --data DIR) holds DIR/images/NAME.png and DIR/masks/NAME.png
(matching stems); a mask pixel is a class index (0/255 masks are read as 0/1 for two
classes; any other value is refused with the file's name). DIR/train/ and DIR/val/
are used when both exist, otherwise a seeded 10% of DIR is held out for validation.

Images are resized to --size. Real images need Pillow (pip install pillow), imported
only when a folder is read; synthetic data needs only torch.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from images import (
    IMAGE_SUFFIXES,
    SHAPES,
    BadSample,
    DataError,
    draw,
    images_in,
    load_image,
    read_picture,
    resampling,
    to_tensor,
)

# --- synthetic shapes -----------------------------------------------------------------


class SyntheticShapes(Dataset):
    """Random shapes drawn from (seed, index): (image (C, H, W) in [0, 1],
    mask (H, W))."""

    def __init__(
        self,
        length: int,
        size: tuple[int, int],
        in_channels: int,
        classes: int,
        seed: int = 0,
    ) -> None:
        self.length, self.size = length, size
        self.in_channels, self.classes, self.seed = in_channels, classes, seed
        self.kinds = len(SHAPES) if classes <= 2 else min(classes - 1, len(SHAPES))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = random.Random(self.seed * 1_000_003 + index)
        gen = torch.Generator().manual_seed(rng.getrandbits(63))
        height, width = self.size
        yy, xx = torch.meshgrid(
            torch.arange(height, dtype=torch.float32),
            torch.arange(width, dtype=torch.float32),
            indexing="ij",
        )
        background = torch.tensor([rng.random() for _ in range(self.in_channels)])
        image = background[:, None, None].expand(-1, height, width).clone()
        image += 0.15 * (yy / max(1, height - 1) - 0.5) * rng.choice((-1, 1))
        mask = torch.zeros(height, width, dtype=torch.long)
        for _ in range(rng.randint(1, 4)):
            kind = rng.randrange(self.kinds)
            inside = draw(SHAPES[kind], yy, xx, rng)
            colour = [
                min(1.0, max(0.0, b + rng.choice((-1, 1)) * rng.uniform(0.3, 0.6)))
                for b in background.tolist()
            ]
            image[:, inside] = torch.tensor(colour)[:, None]
            mask[inside] = 1 if self.classes <= 2 else kind + 1
        image += 0.05 * torch.randn(image.shape, generator=gen)
        return image, mask


# --- folders of real images -----------------------------------------------------------


def load_mask(path: Path, size: tuple[int, int], classes: int) -> torch.Tensor:
    """(H, W) long class indices, resized to ``size`` by nearest neighbour."""

    def convert(picture) -> torch.Tensor:
        if picture.mode == "1":
            picture = picture.convert("L")
        if picture.mode not in ("L", "P"):
            raise BadSample(
                f"mask {path} is a {picture.mode} image; save masks as single-channel "
                "(L or P mode) images whose pixel values are class indices"
            )
        check_mask_values(path, {value for _, value in picture.getcolors(256)}, classes)
        picture = picture.resize((size[1], size[0]), resampling().NEAREST)
        return to_tensor(picture)[0].long()

    mask = read_picture(path, convert)
    return (mask > 0).long() if classes <= 2 else mask


def check_mask_values(path: Path, values: set[int], classes: int) -> None:
    """Refuse pixel values that are not classes: 0..classes-1 (0/1 or 0/255 when
    binary)."""
    if classes <= 2:
        if values <= {0, 1} or values <= {0, 255}:
            return
        expected = "0 (background) and 1 or 255 (foreground)"
    elif max(values) < classes:
        return
    else:
        expected = f"the class indices 0..{classes - 1}"
    shown = ", ".join(map(str, sorted(values)[:8])) + (
        " ..." if len(values) > 8 else ""
    )
    raise BadSample(
        f"mask {path} has pixel values {shown}, but with {max(classes, 2)} classes "
        f"a mask holds {expected}; fix the mask, or generate the model with --classes"
    )


class SegmentationFolder(Dataset):
    """(image, mask) pairs from DIR/images/ and DIR/masks/ with matching stems."""

    def __init__(self, root: Path, size, in_channels: int, classes: int) -> None:
        images, masks = root / "images", root / "masks"
        for folder in (images, masks):
            if not folder.is_dir():
                raise DataError(
                    f"{folder} does not exist; a segmentation folder holds images/ "
                    "and masks/ with matching file names"
                )
        by_stem = {p.stem: p for p in images_in(images)}
        mask_by_stem = {p.stem: p for p in images_in(masks)}
        if not by_stem:
            raise DataError(f"{images} has no images ({', '.join(IMAGE_SUFFIXES)})")
        _check_matching(images, by_stem, masks, mask_by_stem)
        self.pairs = [(by_stem[s], mask_by_stem[s]) for s in sorted(by_stem)]
        self.size, self.in_channels, self.classes = size, in_channels, classes

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        image, mask = self.pairs[index]
        return (
            load_image(image, self.size, self.in_channels),
            load_mask(mask, self.size, self.classes),
        )


def _check_matching(
    images: Path, by_stem: dict, masks: Path, mask_by_stem: dict
) -> None:
    """One line naming the images without a mask and the masks without an image."""
    problems = []
    for missing, found, here, there, what, other in (
        (
            sorted(set(by_stem) - set(mask_by_stem)),
            by_stem,
            images,
            masks,
            "image",
            "mask",
        ),
        (
            sorted(set(mask_by_stem) - set(by_stem)),
            mask_by_stem,
            masks,
            images,
            "mask",
            "image",
        ),
    ):
        if missing:
            names = [found[stem].name for stem in missing]
            shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
            problems.append(
                f"{len(missing)} {what}(s) in {here} have no {other} with the same "
                f"name in {there}: {shown}"
            )
    if problems:
        raise DataError("; ".join(problems))


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
        train = SyntheticShapes(
            train_samples, size, in_channels, classes, seed=2 * seed
        )
        val = SyntheticShapes(
            val_samples, size, in_channels, classes, seed=2 * seed + 1
        )
        return train, val
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"--data {data}: no such folder")

    def load(root: Path) -> Dataset:
        return SegmentationFolder(root, size, in_channels, classes)

    if (data / "train").is_dir() and (data / "val").is_dir():
        return load(data / "train"), load(data / "val")
    full = load(data)
    if len(full) < 2:
        raise DataError(f"{data} has {len(full)} sample(s); at least 2 are needed")
    order = list(range(len(full)))
    random.Random(seed).shuffle(order)
    held = max(1, len(full) // 10)
    return Subset(full, order[held:]), Subset(full, order[:held])
