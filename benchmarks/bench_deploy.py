"""CPU inference of the headline UNet: onnxruntime and torch.compile against eager PyTorch.

The headline UNet (--down hwd --up dysample --skip eff, default width 64 and depth 4) is
generated, built once with fixed weights in eval mode, and run on one 1x3x256x256 input by:

- eager: the model under torch.inference_mode;
- onnxruntime: the ONNX file that `plugscaffold check` makes (torch.export with dynamic batch,
  height and width, then torch.onnx.export's dynamo exporter), in an InferenceSession on the
  CPU execution provider with all graph optimisations;
- torch.compile: the inductor backend (default mode, fullgraph=True): real code generation,
  not the graph-capture check of the test suite.

PyTorch and onnxruntime use the same number of intra-op threads (default 2). Each output is
checked against eager (max abs difference printed) before timing; the three are timed in
alternating rounds so that load from other processes falls on all of them alike, and the
median is reported with the ratio to eager (below 1: faster than eager). Run:

    python benchmarks/bench_deploy.py [--threads 2] [--repeat 20] [--size 256]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch

from plugscaffold import _deploy_worker as worker
from plugscaffold.pipeline import generate

HEADLINE = {"down": "hwd", "up": "dysample", "skip": "eff"}


def build(directory: Path) -> torch.nn.Module:
    gen = generate("headline", HEADLINE, parent=directory, smoke=False)
    path = directory / "headline" / "model.py"
    spec = importlib.util.spec_from_file_location("headline_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    return getattr(module, gen.plan.class_name)().eval()


def onnx_session(model: torch.nn.Module, x: torch.Tensor, threads: int, directory: Path):
    import onnxruntime

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    exported = worker._export(model, [(x,)])
    program = torch.onnx.export(exported, dynamo=True, verbose=False)
    path = directory / "headline.onnx"
    program.save(str(path))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda t: torch.from_numpy(session.run(None, {name: t.numpy()})[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20, help="timed rounds (each runs all three once)")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(1, 3, args.size, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        model = build(Path(tmp))
        with torch.inference_mode():
            expected = model(x)
        started = time.perf_counter()
        run_onnx = onnx_session(model, x, args.threads, Path(tmp))
        onnx_seconds = time.perf_counter() - started
        started = time.perf_counter()
        compiled = torch.compile(model, fullgraph=True, backend="inductor")
        with torch.no_grad():
            compiled(x)  # compiles
        compile_seconds = time.perf_counter() - started

        def run_eager(t):
            with torch.inference_mode():
                return model(t)

        def run_compiled(t):
            with torch.no_grad():
                return compiled(t)

        runners = {"eager": run_eager, "onnxruntime": run_onnx, "torch.compile": run_compiled}
        for name, run in runners.items():
            diff = (run(x) - expected).abs().max().item()
            print(f"{name:14s} max |out - eager| = {diff:.2e}")
            run(x)  # one more warm-up
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.repeat):
            for name, run in runners.items():
                started = time.perf_counter()
                run(x)
                times[name].append(time.perf_counter() - started)
    base = statistics.median(times["eager"])
    print(
        f"\nheadline UNet (hwd, dysample, eff; width 64, depth 4), 1x3x{args.size}x{args.size}, "
        f"{args.threads} threads, median of {args.repeat} (torch {torch.__version__})"
    )
    print(f"{'path':14s} {'median ms':>10s} {'vs eager':>9s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:14s} {median * 1e3:10.1f} {median / base:8.2f}x")
    print(f"(one-off costs: ONNX export {onnx_seconds:.1f} s, inductor compile {compile_seconds:.1f} s)")


if __name__ == "__main__":
    main()
