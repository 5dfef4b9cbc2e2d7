"""Export a trained model to ONNX and check the file with onnxruntime.

Written by plugscaffold beside model.py and train.py:

    python export.py                                  # runs/best.pt -> model.onnx
    python export.py --checkpoint runs/last.pt --out deploy/model.onnx

The checkpoint's model (eval mode) goes through torch.onnx.export's dynamo exporter:
torch.export captures the graph with a dynamic batch, height and width, and the graph
is translated to ONNX (the exporter's default opset). onnxruntime then runs the file
at the size the checkpoint was trained at and at another batch and size; each output
must match PyTorch's within 1e-4 + 1e-4 * |output|, or nothing is written. Needs
onnx, onnxscript and onnxruntime (pip install onnx onnxscript onnxruntime).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path

import torch

from config import CLASSES, IN_CHANNELS, SIZE, TASK
from train import add_checkpoint_option, build_model

TOLERANCE = 1e-4  # absolute and relative: |onnx - torch| <= TOLERANCE * (1 + |torch|)


class ExportError(Exception):
    """A one-line reason the export was refused."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write the trained model as ONNX and check it with onnxruntime.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_checkpoint_option(parser)
    parser.add_argument(
        "--out",
        metavar="PATH",
        type=Path,
        default=Path("model.onnx"),
        help="the ONNX file",
    )
    return parser.parse_args(argv)


def load_trained(path: Path) -> tuple[torch.nn.Module, tuple[int, int]]:
    """The checkpoint's model in eval mode on the CPU, and the (H, W) it was trained
    at."""
    if not path.is_file():
        raise ExportError(
            f"--checkpoint {path}: no such file; train first (python train.py) "
            "or pass the checkpoint to export"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("task") != TASK or state.get("classes") != CLASSES:
        raise ExportError(f"{path} was trained for another task or number of classes")
    model = build_model()
    model.load_state_dict(state["model"])
    return model.eval(), tuple(state.get("size", SIZE))


def onnx_runtime():
    """onnxruntime, or an ExportError naming the packages to install."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ExportError(
            f"{exc.name} is not installed; pip install onnx onnxscript onnxruntime"
        ) from None
    onnxruntime.set_default_logger_severity(3)
    return onnxruntime


def size_oblivious():
    """Export without torch's 0/1 specialisation, so that the graph also takes batch 1
    (a no-op on a torch without the setting)."""
    try:
        from torch.fx.experimental import _config

        return _config.patch(backed_size_oblivious=True)
    except (ImportError, AttributeError):
        return contextlib.nullcontext()


def export(
    model: torch.nn.Module, size: tuple[int, int], out: Path
) -> tuple[int, list[str]]:
    """Write ``out`` (atomically, only if onnxruntime matches PyTorch); returns the
    opset and what was checked."""
    ort = onnx_runtime()
    height, width = size
    example = torch.randn(2, IN_CHANNELS, height, width)
    # one image at another size, off the padding grid: the graph must not be fixed
    # to the first
    other = torch.randn(1, IN_CHANNELS, height + 17, width + 3)
    dims = {
        0: torch.export.Dim.AUTO,
        2: torch.export.Dim.AUTO,
        3: torch.export.Dim.AUTO,
    }
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with torch.no_grad(), size_oblivious():
            program = torch.onnx.export(
                model, (example,), dynamo=True, dynamic_shapes=(dims,), verbose=False
            )
    except (
        Exception
    ) as exc:  # one line here; 'plugscaffold check . --paths export' says more
        lines = [line for line in str(exc).splitlines() if line.strip()] or [""]
        raise ExportError(
            f"torch.onnx.export failed: {type(exc).__name__}: {lines[0]}"
        ) from None
    opset = next(o.version for o in program.model_proto.opset_import if o.domain == "")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=".onnx", dir=out.parent)
    os.close(handle)
    try:
        program.save(tmp)
        session = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        checked = []
        for x in (example, other):
            with torch.no_grad():
                expected = model(x)
            got = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
            if got.shape != expected.shape:
                raise ExportError(
                    f"onnxruntime gave shape {tuple(got.shape)} for input "
                    f"{tuple(x.shape)}, PyTorch {tuple(expected.shape)}"
                )
            diff = (got - expected).abs()
            if not bool((diff <= TOLERANCE * (1 + expected.abs())).all()):
                raise ExportError(
                    f"onnxruntime differs from PyTorch by {float(diff.max()):.3g} "
                    f"at input {tuple(x.shape)}"
                )
            checked.append(f"{tuple(x.shape)}: max |diff| {float(diff.max()):.1e}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return opset, checked


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        model, size = load_trained(args.checkpoint)
        opset, checked = export(model, size, args.out)
    except ExportError as exc:
        print(f"export.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} (ONNX opset {opset}, dynamic batch, height and width)")
    for line in checked:
        print(f"onnxruntime matches PyTorch at input {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
