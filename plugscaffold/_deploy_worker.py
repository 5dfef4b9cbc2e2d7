"""Deployment checks of one model; runs in a subprocess, prints one JSON object.

Run as a script (``python _deploy_worker.py REQUEST``): it imports only the standard library,
torch, the model file and, for the ONNX path, onnx/onnxscript/onnxruntime. With ``--serve`` it
checks one catalog module per line of stdin (a JSON request from ``deploy.check_entries``) and
answers each with one line, so that a sweep of the whole catalog imports torch and builds the
ONNX exporter's tables once per process.

Every path is run on the model in eval mode and compared with the eager output on two inputs:
the example input (the one traced, exported or compiled) and a second input with another batch
size and another height and width, so a graph that only works at the example shape fails.
An output matches when ``|out - eager| <= ATOL + RTOL * |eager|`` element-wise.
"""

import json
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

PATHS = ("script", "trace", "export", "compile", "onnx")
ATOL = 1e-4
RTOL = 1e-4


def first_line(exc):
    """The first non-empty line of an exception, prefixed by its type, and for a TorchScript
    error the source line it points at (at most 300 characters)."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    head = lines[0] if lines else ""
    if isinstance(exc, _AtInput):
        return head[:300]
    found = re.search(r'File "([^"]+)", line (\d+)\n\s*(\S[^\n]*)', text)
    if found and "torch" in type(exc).__module__:
        head += f" ({Path(found.group(1)).name}:{found.group(2)}: {found.group(3).strip()})"
    return f"{type(exc).__name__}: {head}"[:300]


class _AtInput(Exception):
    """A path that was built but fails, or differs from eager, at one input."""


def _tensors(out):
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _tensors(item)]
    return [out]


def compare(got, want):
    """The largest absolute difference; ValueError (one line) when ``got`` does not match ``want``."""
    import torch

    got, want = _tensors(got), _tensors(want)
    if len(got) != len(want):
        raise ValueError(f"{len(got)} outputs instead of {len(want)}")
    worst = 0.0
    for g, w in zip(got, want):
        g, w = torch.as_tensor(g).detach().float(), w.detach().float()
        if tuple(g.shape) != tuple(w.shape):
            raise ValueError(f"output shape {tuple(g.shape)} instead of {tuple(w.shape)}")
        diff = (g - w).abs()
        worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
        if not bool((diff <= ATOL + RTOL * w.abs()).all()):
            raise ValueError(
                f"output differs from eager by up to {worst:.3g} (tolerance {ATOL:g} + {RTOL:g} * |eager|)"
            )
    return worst


def _dynamic_shapes(inputs):
    """Batch, height and width of every 4-D input are dynamic (Dim.AUTO: export may refine them)."""
    from torch.export import Dim

    return tuple({0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO} if x.dim() == 4 else None for x in inputs)


def _run_script(model, examples):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates torch.jit.script
        scripted = torch.jit.script(model)
    return lambda *xs: scripted(*xs)


def _run_trace(model, examples):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: the second input shows what they warn of
        traced = torch.jit.trace(model, tuple(examples[0]), check_trace=False)
    return lambda *xs: traced(*xs)


def size_oblivious():
    """Export without torch's 0/1 specialisation (a dynamic size is otherwise assumed to be at
    least 2, and a reshape's guard can then refuse batch 1 at run time); a no-op on a torch
    without the setting."""
    import contextlib

    try:
        from torch.fx.experimental import _config

        return _config.patch(backed_size_oblivious=True)
    except (ImportError, AttributeError):
        return contextlib.nullcontext()


def _export(model, examples):
    import torch

    with size_oblivious():
        return torch.export.export(model, tuple(examples[0]), dynamic_shapes=_dynamic_shapes(examples[0]))


def _run_export(model, examples, cache):
    cache["exported"] = _export(model, examples)
    module = cache["exported"].module()
    return lambda *xs: module(*xs)


def _run_compile(model, examples, backend):
    """torch.compile(fullgraph=True); on failure, says whether it compiles with graph breaks."""
    import torch

    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    try:
        compiled(*examples[0])
    except Exception as exc:
        reason = first_line(exc)
        torch._dynamo.reset()
        try:
            torch.compile(model, backend=backend)(*examples[1])
            tail = "without fullgraph it compiles, with graph breaks"
        except Exception:
            tail = "it fails without fullgraph too"
        raise RuntimeError(f"fullgraph: {reason} ({tail})") from None
    return lambda *xs: compiled(*xs)


_ONNX_REGISTRY = []


def onnx_export(exported, optimize=True):
    """``torch.onnx.export(exported, dynamo=True, verbose=False, optimize=optimize)`` of a
    torch.export program, with the table of ONNX implementations of torch ops (the exporter's
    registry, ~1.5 s to build from onnxscript's torchlib) built once per process.

    For an ExportedProgram, ``torch.onnx.export`` builds that registry and calls the
    exporter's core with it and the default opset; this calls the same core with the same
    arguments and a registry built the same way (the export only reads it). A torch without
    that core takes the public call."""
    import torch

    try:
        from torch.onnx import _constants as onnx_constants
        from torch.onnx._internal.exporter import _core, _registration
    except ImportError:  # another torch: the public call, registry rebuilt every time
        return torch.onnx.export(exported, dynamo=True, verbose=False, optimize=optimize)
    opset = onnx_constants.ONNX_DEFAULT_OPSET
    if not _ONNX_REGISTRY:
        _ONNX_REGISTRY.append(_registration.ONNXRegistry.from_torchlib(opset_version=opset))
    return _core.export(
        exported, registry=_ONNX_REGISTRY[0], verbose=False, optimize=optimize, opset_version=opset
    )


def _run_onnx(model, examples, cache, optimize=True):
    """torch.export (dynamic batch, height, width) -> the dynamo ONNX exporter -> onnxruntime.

    ``optimize=False`` skips the exporter's ONNX graph optimisation (a quarter of its time;
    the per-module sweep of the tests uses it)."""
    import logging

    import onnxruntime
    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # e.g. "torchvision is not installed"
    onnxruntime.set_default_logger_severity(3)  # errors come back as exceptions
    exported = cache.get("exported") or _export(model, examples)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        program = onnx_export(exported, optimize)
        path = Path(tmp) / "model.onnx"
        program.save(str(path))
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # as many threads as torch's (OMP_NUM_THREADS); onnxruntime's own default, one per core
        # with spinning waits, burnt CPU between the check's two runs
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(*xs):
        outs = session.run(None, {n: x.detach().numpy() for n, x in zip(names, xs)})
        return [torch.from_numpy(o) for o in outs] if len(outs) > 1 else torch.from_numpy(outs[0])

    return run


def check_paths(model, examples, paths=PATHS, compile_backend="inductor", onnx_optimize=True):
    """Run each deployment path on ``model`` and compare it with eager on every input tuple.

    ``examples``: a list of input tuples; the first is the example the path is built from.
    Returns {path: {"ok", "error", "max_diff", "seconds"}}; ``error`` is one line.
    """
    import torch

    model = model.eval()
    with torch.no_grad():
        expected = [model(*[x.clone() for x in xs]) for xs in examples]  # in-place layers
    cache = {}
    # every path gets copies: tracing or exporting a model with in-place layers changes its input
    copies = lambda: [tuple(x.clone() for x in xs) for xs in examples]  # noqa: E731
    builders = {
        "script": lambda: _run_script(model, copies()),
        "trace": lambda: _run_trace(model, copies()),
        "export": lambda: _run_export(model, copies(), cache),
        "compile": lambda: _run_compile(model, copies(), compile_backend),
        "onnx": lambda: _run_onnx(model, copies(), cache, onnx_optimize),
    }
    results = {}
    for path in paths:
        started = time.perf_counter()
        result = {"ok": False, "error": None, "max_diff": None}
        try:
            with torch.no_grad():
                run = builders[path]()
                worst = 0.0
                for xs, want in zip(examples, expected):
                    try:
                        worst = max(worst, compare(run(*[x.clone() for x in xs]), want))
                    except Exception as exc:  # built, but fails or differs at this input
                        shape = "x".join(str(n) for n in xs[0].shape)
                        raise _AtInput(f"at input {shape}: {first_line(exc)}") from None
                result.update(ok=True, max_diff=worst)
        except Exception as exc:
            result["error"] = first_line(exc)
        result["seconds"] = time.perf_counter() - started
        results[path] = result
    return results


def build_module(request):
    """A catalog module from a ``deploy.entry_request``: its inlined source file imported (and
    registered in sys.modules, where torch.compile may look it up), the constructor call
    evaluated there after ``torch.manual_seed(seed)``, then the example inputs drawn after
    ``torch.manual_seed(seed + 1)``. Returns (module, [inputs, ...])."""
    import torch

    namespace = load_module(request["path"])
    torch.manual_seed(request["seed"])
    module = eval(request["code"], vars(namespace))
    torch.manual_seed(request["seed"] + 1)
    examples = [tuple(torch.randn(*shape) for _ in range(request["inputs"])) for shape in request["shapes"]]
    return module, examples


def check_module(request):
    """The paths of one catalog module; dynamo's caches and the module's file are dropped after."""
    import torch

    try:
        module, examples = build_module(request)
        results = check_paths(
            module, examples, request["paths"], request["compile_backend"], request["onnx_optimize"]
        )
        return {"ok": True, "results": results}
    finally:
        sys.modules.pop(Path(request["path"]).stem, None)
        torch._dynamo.reset()


#: Starts each answer line of ``--serve`` (anything else a module prints goes to stderr).
ANSWER = "@deploy-answer "


def serve():
    answers, sys.stdout = sys.stdout, sys.stderr
    for line in sys.stdin:
        try:
            result = check_module(json.loads(line))
        except Exception as exc:  # the module could not be built
            result = {"ok": False, "error": first_line(exc)}
        answers.write(ANSWER + json.dumps(result) + "\n")
        answers.flush()


def load_module(path, name=None):
    """The Python file ``path`` imported as ``name`` (default: its stem)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name or Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # torch.compile may import the model's module by name
    spec.loader.exec_module(module)
    return module


def check(request):
    import torch

    torch.manual_seed(request.get("seed", 0))
    model = getattr(load_module(request["path"], "generated_model"), request["class_name"])()
    examples = [(torch.randn(*shape),) for shape in request["shapes"]]
    results = check_paths(model, examples, request["paths"], request.get("compile_backend", "inductor"))
    return {"ok": True, "results": results, "torch": torch.__version__}


def main():
    if sys.argv[1] == "--serve":
        return serve()
    request = json.loads(sys.argv[1])
    try:
        result = check(request)
    except Exception as exc:  # import or construction failed
        result = {"ok": False, "error": first_line(exc)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
