"""Train the model of model.py (its task and settings: config.py).

Written by plugscaffold beside model.py. Runs on a CPU or a GPU, in one process or in
several with torchrun (DistributedDataParallel):

    python train.py                   # synthetic data (data.py)
    python train.py --data DIR        # your own images (layouts in data.py)
    python train.py --resume          # continue from runs/last.pt
    # one process per GPU (gloo on CPU):
    torchrun --standalone --nproc_per_node 2 train.py

Every run writes to --out (default runs/): last.pt and best.pt (checkpoints; "model" is
a plain state_dict of config.Model), metrics.csv (one row per epoch), steps.csv (the
global-batch loss of every optimizer step) and, when matplotlib is installed, curves.png
(losses and validation metrics per epoch). predict.py runs best.pt on a folder of
images.

--batch-size is the global batch: under torchrun each of the N processes takes
batch-size / N samples of it, and with BatchNorm synchronised across processes the
loss, gradients and learning rate of a step are the same for any N.
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import os
import pickle
import random
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset

from config import CLASSES, IN_CHANNELS, SIZE, TASK, Model
from data import make_datasets
from images import BadSample, DataError
from metrics import MAIN_METRIC, METRICS, scores

LABELS = max(CLASSES, 2)  # one output channel means a binary task: labels 0 and 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the model in model.py.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        default=None,
        help="folder of real data (layouts in data.py); none: synthetic data",
    )
    parser.add_argument(
        "--epochs", metavar="N", type=int, default=20, help="epochs in all"
    )
    parser.add_argument(
        "--steps-per-epoch",
        metavar="N",
        type=int,
        default=None,
        help="optimizer steps per epoch; none: 50 (synthetic) or the whole folder",
    )
    parser.add_argument(
        "--val-samples",
        metavar="N",
        type=int,
        default=128,
        help="synthetic validation images",
    )
    parser.add_argument(
        "--batch-size",
        metavar="N",
        type=int,
        default=16,
        help="global batch, split over processes",
    )
    parser.add_argument(
        "--size",
        metavar="HxW",
        type=parse_size,
        default=f"{SIZE[0]}x{SIZE[1]}",
        help="training size: N or HxW",
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW")
    parser.add_argument(
        "--seed", metavar="N", type=int, default=0, help="data and weights"
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=None,
        help="DataLoader workers per process; none: 0 on CPU, up to 4 on GPU",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("runs"),
        help="checkpoints and logs",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from OUT/last.pt"
    )
    parser.add_argument(
        "--pretrained",
        metavar="PATH",
        type=Path,
        default=None,
        help="start from a checkpoint file you downloaded (e.g. torchvision's "
        "resnet34-b627a593.pth): into model.encoder when the model has one (its head "
        "dropped), else the whole model; nothing is downloaded",
    )
    parser.add_argument(
        "--target",
        metavar="VALUE",
        type=float,
        default=None,
        help=f"stop once the validation {MAIN_METRIC} reaches this value",
    )
    parser.add_argument(
        "--no-amp", action="store_true", help="no mixed precision (CUDA only)"
    )
    parser.add_argument(
        "--no-sync-bn",
        action="store_true",
        help="per-process BatchNorm statistics under torchrun",
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be at least 1")
    if args.steps_per_epoch is not None and args.steps_per_epoch < 1:
        parser.error("--steps-per-epoch must be at least 1")
    return args


def parse_size(text: str) -> tuple[int, int]:
    height, _, width = text.lower().partition("x")
    try:
        size = (int(height), int(width or height))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not N or HxW") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be positive")
    return size


def add_checkpoint_option(parser: argparse.ArgumentParser) -> None:
    """--checkpoint: the trained model that predict.py and export.py read."""
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        type=Path,
        default=Path("runs/best.pt"),
        help="from train.py",
    )


def add_size_option(parser: argparse.ArgumentParser) -> None:
    """predict.py's --size: the input size, by default the checkpoint's."""
    parser.add_argument(
        "--size",
        metavar="HxW",
        type=parse_size,
        default=None,
        help="input size N or HxW; none: the size the checkpoint was trained at",
    )


class TrainError(Exception):
    """A problem with the command line a person can fix (batch size, --resume)."""


# --- the task: loss and metrics -------------------------------------------------------


def build_model() -> nn.Module:
    return Model(in_channels=IN_CHANNELS, classes=CLASSES)


def compute_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean loss of a batch: cross-entropy (binary cross-entropy for one output
    channel)."""
    if CLASSES == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0].float(), target.float())
    return F.cross_entropy(logits.float(), target)


def predict(logits: torch.Tensor) -> torch.Tensor:
    """Class index per output: (B, C, ...) logits -> (B, ...)."""
    if CLASSES == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(1)


def confusion(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(LABELS, LABELS) counts: row = true label, column = predicted label."""
    index = (target * LABELS + pred).flatten()
    return torch.bincount(index, minlength=LABELS * LABELS).view(LABELS, LABELS)


# --- processes and devices ------------------------------------------------------------


def setup() -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process; joins torchrun's group when there
    is one."""
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device_type = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device_type)
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device(device.type, local_rank)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


class AllReduceSum(torch.autograd.Function):
    """Sum a tensor over all processes; the backward pass sums the gradients
    likewise."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d with statistics over the global batch of all processes, on any
    device.

    torch's nn.SyncBatchNorm (used on GPUs) needs CUDA; this does the same with one
    all_reduce of per-channel sums, so it also runs on CPU with gloo.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        xf = x.float()
        count = torch.full((1,), xf.numel() / channels, device=x.device)
        local = torch.cat([xf.sum((0, 2, 3)), (xf * xf).sum((0, 2, 3)), count])
        total = AllReduceSum.apply(local)
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels:-1] / n - mean * mean).clamp(min=0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum
                if factor is None:
                    factor = 1.0 / self.num_batches_tracked.item()
                unbiased = var * n / (n - 1).clamp(min=1)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[
            None, :, None, None
        ]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm2d of ``module`` computing its statistics over the global
    batch."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, GlobalBatchNorm2d):
        bn = GlobalBatchNorm2d(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        bn.load_state_dict(module.state_dict())
        return bn
    for name, child in module.named_children():
        setattr(module, name, sync_batchnorm(child, device))
    return module


def global_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum ``values`` over all processes (unchanged in a single process)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor.tolist()


def make_scaler(enabled: bool, device: torch.device):
    """Loss scaling for float16 autocast (a no-op when disabled)."""
    if hasattr(torch.amp, "GradScaler"):  # torch >= 2.3
        return torch.amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def learning_rate(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 3% of the steps, then cosine decay to 5% of
    ``peak``."""
    warmup = max(1, round(0.03 * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


# --- logging --------------------------------------------------------------------------


class Progress:
    """A one-line text progress bar on stderr, redrawn in place on a terminal."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.count = total, label, 0
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.perf_counter()

    def update(self, loss: float) -> None:
        self.count += 1
        if not self.enabled:
            return
        sys.stderr.write("\r" + self.line(loss, time.perf_counter() - self.start))
        sys.stderr.flush()

    def line(self, loss: float, elapsed: float) -> str:
        """The progress line, e.g.
        'epoch 3/20 [######--------------] 15/50 loss 0.4123 2.5 it/s ETA 0:14'."""
        done = int(20 * self.count / max(1, self.total))
        rate = self.count / max(1e-9, elapsed)
        left = (self.total - self.count) / rate if self.count else 0.0
        bar = "#" * done + "-" * (20 - done)
        return (
            f"{self.label} [{bar}] {self.count}/{self.total} "
            f"loss {loss:.4f} {rate:.1f} it/s ETA {clock(left)}"
        )

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def clock(seconds: float) -> str:
    """Seconds as 'M:SS', or 'H:MM:SS' from an hour on."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def keep_rows(path: Path, column: str, last: int) -> None:
    """Drop the rows of CSV ``path`` whose ``column`` is beyond ``last`` (on
    --resume)."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0]) if rows else []
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if fields:
            writer.writeheader()
        writer.writerows(r for r in rows if int(r[column]) <= last)


def append_row(path: Path, row: dict) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def plot_curves(metrics: Path, image: Path) -> None:
    """Losses and validation metrics per epoch from ``metrics`` (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no window
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print(f"{image.name} skipped: pip install matplotlib to plot {metrics.name}")
        return
    with metrics.open(newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for name in ("train_loss", "val_loss"):
        left.plot(epochs, [float(r[name]) for r in rows], marker=".", label=name)
    for name in METRICS:
        key = f"val_{name}"
        right.plot(epochs, [float(r[key]) for r in rows], marker=".", label=key)
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    right.set(xlabel="epoch", ylabel="score", title="validation", ylim=(0, 1))
    for axes in (left, right):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend()
    figure.savefig(image, dpi=100)
    plt.close(figure)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a crash mid-write never leaves a broken checkpoint."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


# --- training -------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, amp) -> dict:
    """Validation loss and metrics over this process's share, summed over all
    processes."""
    model.eval()
    counts = torch.zeros(LABELS, LABELS, dtype=torch.int64, device=device)
    loss_sum, seen = 0.0, 0
    for images, targets in loader:
        images, targets = to_device(images, targets, device)
        with amp():
            logits = model(images)
        loss_sum += compute_loss(logits, targets).item() * len(images)
        seen += len(images)
        counts += confusion(predict(logits), targets)
    if dist.is_initialized():
        dist.all_reduce(counts)
    loss_sum, seen = global_sum([loss_sum, seen], device)
    return {"loss": loss_sum / max(1, seen), **scores(counts)}


def to_device(images: torch.Tensor, targets: torch.Tensor, device: torch.device):
    images = images.to(device, non_blocking=True)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    return images, targets.to(device, non_blocking=True)


def load_last(args: argparse.Namespace) -> dict:
    """The checkpoint OUT/last.pt to resume from (on the CPU; loading moves it)."""
    path = args.out / "last.pt"
    if not path.exists():
        raise TrainError(f"--resume: there is no checkpoint {path}")
    return read_checkpoint(path)


def load_pretrained(model: nn.Module, path: Path) -> str | None:
    """Weights from ``path`` (a state_dict, or a dict holding one under "state_dict" or
    "model"), strict: into ``model.encoder`` when the model has one, leaving out the
    checkpoint's layers after the encoder's last (its head, which an encoder lacks);
    else into the whole model, where the head keeps its initial weights when its
    shapes differ (a checkpoint trained for another number of classes). Returns that
    head's key prefix, or None.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise TrainError(
            f"--pretrained {path}: not a readable checkpoint ({type(exc).__name__})"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state:
        raise TrainError(f"--pretrained {path}: no state_dict in it")
    target = getattr(model, "encoder", model)
    where = "model.encoder" if target is not model else "the model"
    own = target.state_dict()
    if target is not model:  # the checkpoint's head is not part of the encoder:
        # its layers after the encoder's last (the head; EfficientNet's last conv too)
        head = head_of(state)
        last = max((i for i, k in enumerate(state) if k in own), default=-1)
        state = {
            k: v for i, (k, v) in enumerate(state.items()) if k in own or i <= last
        }
    else:
        head = head_of(own)
        state = {
            k: v
            for k, v in state.items()
            if not (k.startswith(head) and k in own and own[k].shape != v.shape)
        }
    if any(k in own and own[k].shape != v.shape for k, v in state.items()):
        bad = next(k for k, v in state.items() if k in own and own[k].shape != v.shape)
        raise TrainError(
            f"--pretrained {path} does not fit {where}: {bad} is "
            f"{tuple(state[bad].shape)} there, {tuple(own[bad].shape)} here"
        )
    missing = sorted(set(own) - set(state))
    kept = [k for k in missing if k.startswith(head) and target is model]
    unexpected = sorted(set(state) - set(own))
    if unexpected or len(kept) != len(missing):
        names = unexpected or [k for k in missing if k not in kept]
        what = "unexpected" if unexpected else "missing"
        raise TrainError(
            f"--pretrained {path} does not fit {where}: {len(names)} {what} key(s), "
            f"e.g. {', '.join(names[:3])}"
        )
    target.load_state_dict(state, strict=not kept)
    return head if kept else None


def head_of(state: dict) -> str:
    """The key prefix of the last layer in ``state``: "fc." for "fc.weight",
    "fc.bias"."""
    last = list(state)[-1]
    return last.rsplit(".", 1)[0] + "." if "." in last else last


def read_checkpoint(path: Path) -> dict:
    """A checkpoint this train.py wrote, on the CPU; any other file is one clear
    line."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise TrainError(
            f"{path} is not a checkpoint written by train.py ({type(exc).__name__})"
        ) from None
    if not isinstance(state, dict) or "model" not in state:
        raise TrainError(f"{path} is not a checkpoint written by train.py")
    if state.get("task") != TASK or state.get("classes") != CLASSES:
        raise TrainError(f"{path} was trained for another task or number of classes")
    return state


def load_trained(path: Path, device: torch.device) -> tuple[nn.Module, tuple]:
    """The checkpoint's model in eval mode on ``device``, and the (H, W) it was
    trained at (predict.py's model)."""
    if not path.is_file():
        raise TrainError(
            f"--checkpoint {path}: no such file; train first (python train.py) "
            "or pass the checkpoint to use"
        )
    state = read_checkpoint(path)
    model = build_model()
    model.load_state_dict(state["model"])
    return model.to(device).eval(), tuple(state.get("size", SIZE))


def train(
    args: argparse.Namespace, rank: int, world: int, device: torch.device
) -> None:
    if args.batch_size % world:
        raise TrainError(
            f"--batch-size {args.batch_size} must be divisible by the {world} processes"
        )
    state = load_last(args) if args.resume else None
    if state is not None and state["epoch"] >= args.epochs:
        if rank == 0:
            print(
                f"{args.out / 'last.pt'} is complete: it has trained "
                f"{state['epoch']} of --epochs {args.epochs} (best {MAIN_METRIC} "
                f"{state['best']:.4f}). To train on, raise --epochs, e.g. python "
                f"train.py --resume --epochs {state['epoch'] + args.epochs}",
                flush=True,
            )
        return
    local_batch = args.batch_size // world
    synthetic_steps = args.steps_per_epoch or 50
    train_set, val_set = make_datasets(
        args.data,
        size=args.size,
        in_channels=IN_CHANNELS,
        classes=CLASSES,
        train_samples=synthetic_steps * args.batch_size,
        val_samples=args.val_samples,
        seed=args.seed,
    )
    workers = args.workers
    if workers is None:
        workers = min(4, (os.cpu_count() or 1) // world) if device.type == "cuda" else 0
    loader_options = dict(
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    # The same seeded shuffle in every process; process r takes every world-th sample,
    # so one step's global batch is the same samples for any number of processes.
    sampler = DistributedSampler(
        train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed
    )
    loader = DataLoader(
        train_set,
        batch_size=local_batch,
        sampler=sampler,
        drop_last=True,
        **loader_options,
    )
    val_loader = DataLoader(
        Subset(val_set, range(rank, len(val_set), world)),
        batch_size=local_batch,
        **loader_options,
    )
    steps = min(len(loader), args.steps_per_epoch or len(loader))
    if steps == 0:
        raise DataError(
            f"{len(train_set)} training samples are fewer than one batch of "
            f"{args.batch_size}; lower --batch-size"
        )

    seed_everything(args.seed)
    model = build_model()
    if args.pretrained is not None and state is None:
        kept = load_pretrained(model, args.pretrained)
        if kept and rank == 0:
            print(f"--pretrained: {kept}* keeps its initial weights (other classes)")
    if world > 1 and not args.no_sync_bn:
        model = sync_batchnorm(model, device)
    model.to(device)
    use_amp = device.type == "cuda" and not args.no_amp
    amp_dtype = torch.float16
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
        if torch.cuda.is_bf16_supported():
            amp_dtype = torch.bfloat16

    def amp():
        return torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp)

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.lr, weight_decay=args.weight_decay
    )
    scaler = make_scaler(use_amp and amp_dtype == torch.float16, device)
    start_epoch, step, best = 1, 0, -math.inf
    out = args.out
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state["scaler"]:  # empty when saved without float16 autocast
            scaler.load_state_dict(state["scaler"])
        start_epoch, step, best = state["epoch"] + 1, state["step"], state["best"]
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if state is not None:
            keep_rows(out / "metrics.csv", "epoch", start_epoch - 1)
            keep_rows(out / "steps.csv", "step", step)
        else:
            for name in ("metrics.csv", "steps.csv"):
                (out / name).unlink(missing_ok=True)
        where = f"{world} processes" if world > 1 else "1 process"
        print(
            f"training {TASK} on {device.type} ({where}), {len(train_set)} training "
            f"and {len(val_set)} validation samples, batch {args.batch_size}, "
            f"{steps} steps per epoch, epochs {start_epoch}..{args.epochs}",
            flush=True,
        )
    net = model
    if world > 1:
        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    total_steps = args.epochs * steps
    for epoch in range(start_epoch, args.epochs + 1):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        net.train()
        progress = Progress(steps, f"epoch {epoch}/{args.epochs}", enabled=rank == 0)
        epoch_loss, step_rows = 0.0, []
        for images, targets in loader:
            if progress.count == steps:
                break
            lr = learning_rate(step, total_steps, args.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images, targets = to_device(images, targets, device)
            with amp():
                loss = compute_loss(net(images), targets)
            optimizer.zero_grad(set_to_none=True)
            # Each process's loss is the mean over its equal share of the global batch
            # and DDP averages the gradients, so this is the gradient of the
            # global-batch mean.
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            loss_sum, seen = global_sum(
                [loss.item() * len(images), len(images)], device
            )
            epoch_loss += loss_sum / seen
            step_rows.append(
                {"step": step, "epoch": epoch, "loss": loss_sum / seen, "lr": lr}
            )
            progress.update(loss_sum / seen)
        progress.close()

        result = evaluate(model, val_loader, device, amp)
        score = result[MAIN_METRIC]
        row = {
            "epoch": epoch,
            "train_loss": epoch_loss / max(1, len(step_rows)),
            "val_loss": result["loss"],
            **{f"val_{name}": result[name] for name in METRICS},
            "lr": lr,
            "seconds": round(time.perf_counter() - started, 2),
        }
        if rank == 0:
            for step_row in step_rows:
                append_row(out / "steps.csv", step_row)
            append_row(out / "metrics.csv", row)
            saved = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "step": step,
                "best": max(best, score),
                "task": TASK,
                "in_channels": IN_CHANNELS,
                "classes": CLASSES,
                "size": list(args.size),
                "metrics": row,
                "args": {k: str(v) for k, v in vars(args).items()},
            }
            save_checkpoint(out / "last.pt", saved)
            if score > best:
                save_checkpoint(out / "best.pt", saved)
            shown = "  ".join(f"{k} {v:.4f}" for k, v in row.items() if "_" in k)
            left = clock((args.epochs - epoch) * row["seconds"])
            print(
                f"epoch {epoch}/{args.epochs}  {shown}  {row['seconds']} s, ETA {left}",
                flush=True,
            )
        best = max(best, score)
        if args.target is not None and score >= args.target:
            if rank == 0:
                print(f"reached {MAIN_METRIC} {score:.4f} >= {args.target}", flush=True)
            break
    if rank == 0:
        plot_curves(out / "metrics.csv", out / "curves.png")
        print(f"best {MAIN_METRIC} {best:.4f}; checkpoints in {out}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rank, world, device = setup()
    try:
        train(args, rank, world, device)
    except BadSample as exc:  # found only by the process that read the file
        print(f"train.py: error: {own_message(exc)}", file=sys.stderr)
        return 1  # no collective call: torchrun stops the other processes
    except (DataError, TrainError) as exc:  # raised alike in every process
        if rank == 0:
            print(f"train.py: error: {exc}", file=sys.stderr)
        leave_group(device)
        return 1
    # Any other exception propagates without leaving the group: torchrun stops the other
    # processes, where a collective call here could wait for a process that is gone.
    leave_group(device)
    return 0


def own_message(exc: Exception) -> str:
    """The error's message; a DataLoader worker re-raises it with its traceback
    appended."""
    lines = str(exc).strip().splitlines()
    if len(lines) > 1 and lines[1].startswith("Original Traceback"):
        return lines[-1].split(": ", 1)[-1]  # 'data.BadSample: mask ...' -> 'mask ...'
    return lines[0] if lines else type(exc).__name__


def leave_group(device: torch.device) -> None:
    """All processes wait for rank 0 (its last checkpoint), then leave the group
    together.

    The DDP model of ``train`` is collected first: it holds the group's connections,
    and a process whose Gloo threads are only torn down at interpreter exit can abort
    there.
    """
    gc.collect()
    if dist.is_initialized():
        (
            dist.barrier(device_ids=[device.index])
            if device.type == "cuda"
            else dist.barrier()
        )
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
