"""Probe plug-in classes; a standalone script (``python -I _probe_worker.py REQUEST RESULT``).

``plugscaffold add`` (and ``add --check``) start it in its own process group, in a scratch
folder, under a time limit (plugscaffold/probe.py). It imports only the standard library and
torch, and loads ``_isolate.py`` by its path: before it runs any of the probed code it caps its
memory, forbids core files and cuts the network. Each call into the probed code (the import,
a constructor, a forward) has its own time limit (SIGALRM), so a forward that never returns is
reported as such. It records what it sees, and decides nothing: the parent infers the contract.

REQUEST (JSON): ``memory_mb``, ``call_timeout`` and ``jobs``, each with ``file``, ``class``,
``build`` (a constructor call with ``{in_channels}``, ``{out_channels}``, ``{skip_channels}``
placeholders, or null to find the channel arguments), ``inputs`` and ``layout`` (null: find
them), ``widths`` ([in, out, skip] triples) and ``sizes`` ([H, W] pairs) to try. RESULT
(JSON): one record per job (see ``probe_job``), written when every job is done. Progress
lines go to ``progress.txt`` so the parent can say where a killed worker was.
"""

import importlib.util
import inspect
import io
import json
import os
import runpy
import signal
import sys
import traceback
import warnings

_HERE = os.path.dirname(os.path.abspath(__file__))
_ISOLATE = runpy.run_path(os.path.join(_HERE, "_isolate.py"))

#: Constructor arguments that carry the input / output channels, by name (lower case).
IN_NAMES = (
    "in_channels", "in_chans", "in_ch", "in_c", "inplanes", "in_planes", "in_dim", "in_features",
    "c1", "channels", "channel", "num_channels", "n_channels", "chans", "ch", "dim", "embed_dim",
    "d_model", "inp", "c", "n_feats", "nf", "features", "channel_in", "ch_in", "dim_in", "input_dim",
    "in_channel", "inchannels", "inchannel", "c_in", "nin", "planes",
)  # fmt: skip
OUT_NAMES = (
    "out_channels", "out_chans", "out_ch", "out_c", "outplanes", "out_planes", "out_dim",
    "out_features", "c2", "oup", "channel_out", "ch_out", "dim_out", "output_dim", "out_channel",
    "outchannels", "c_out", "nout",
)  # fmt: skip
LAYOUTS = ("NCHW", "tokens", "NHWC")
#: Square sizes tried, in order, until the module runs on one (it may need a fixed size).
BASE_SIZES = (16, 8, 32, 14, 7, 28, 64, 56, 24, 12)
#: Widths tried, in order, until the module runs at one (it may need many channels).
BASE_WIDTHS = (32, 64, 128)


class Hang(BaseException):
    """A call into the probed code did not return within its time limit."""


class Observer:
    """Side effects seen at run time: writes to stdout/stderr, .cuda() calls, warnings filters."""

    def __init__(self):
        self.phase = "import"
        self.effects = []  # [kind, phase, detail]

    def note(self, kind, detail):
        if not any(e[0] == kind and e[1] == self.phase for e in self.effects):
            self.effects.append([kind, self.phase, detail])


class _Stream(io.TextIOBase):
    def __init__(self, observer, name):
        self.observer, self.name = observer, name

    def writable(self):
        return True

    def write(self, text):
        if text.strip():
            self.observer.note("print", f"{self.name}: {text.strip().splitlines()[0][:80]}")
        return len(text)


def _caller_line(filename):
    frames = [f for f in traceback.extract_stack() if f.filename == filename]
    return f"line {frames[-1].lineno}" if frames else ""


def watch(observer, torch, filename):
    """Record prints, .cuda() and warnings filters instead of letting them act."""
    sys.stdout, sys.stderr = _Stream(observer, "stdout"), _Stream(observer, "stderr")

    def cuda(self, *args, **kwargs):
        observer.note("cuda", f".cuda() {_caller_line(filename)}".strip())
        return self

    torch.Tensor.cuda = cuda
    torch.nn.Module.cuda = cuda

    def filters(name):
        def record(*args, **kwargs):
            shown = repr(args[0]) if args else ""
            observer.note("warnings", f"warnings.{name}({shown}) {_caller_line(filename)}".strip())

        return record

    warnings.filterwarnings = filters("filterwarnings")
    warnings.simplefilter = filters("simplefilter")


def call(seconds, function, *args, **kwargs):
    """``function(*args)`` under a time limit: Hang when it passes."""

    def expired(_signum, _frame):
        raise Hang

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def first_line(exc):
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}"[:300] if lines else type(exc).__name__


def out_of_memory(exc):
    text = str(exc)
    return isinstance(exc, MemoryError) or "can't allocate memory" in text or "DefaultCPUAllocator" in text


class Stop(Exception):
    """The job cannot go on: a hang, the memory cap, or a call that cannot be made."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind, self.message = kind, message


def guarded(job_seconds, function, *args):
    """Run a probed call: a hang or the memory cap stops the job; other errors are returned."""
    try:
        return call(job_seconds, function, *args), None
    except Hang:
        raise Stop("hang", f"did not return within {job_seconds:g} s") from None
    except Exception as exc:
        if out_of_memory(exc):
            raise Stop("memory", first_line(exc)) from None
        return None, first_line(exc)


def make_input(torch, layout, channels, size, seed=0):
    h, w = size
    g = torch.Generator().manual_seed(seed)
    shape = {"NCHW": (2, channels, h, w), "NHWC": (2, h, w, channels), "tokens": (2, h * w, channels)}[layout]
    return torch.randn(*shape, generator=g)


def load(path, observer, seconds):
    spec = importlib.util.spec_from_file_location("probed_module", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["probed_module"] = module
    try:
        call(seconds, spec.loader.exec_module, module)
    except Hang:
        raise Stop("hang", f"importing the file did not finish within {seconds:g} s") from None
    except BaseException as exc:  # SystemExit too
        if out_of_memory(exc):
            raise Stop("memory", first_line(exc)) from None
        raise Stop("import", first_line(exc)) from None
    return module


def constructor_args(cls):
    """(in name, out name, required others, int-like candidates) from the signature."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return None, None, [], []
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    lower = {p.name.lower(): p.name for p in named}
    found_in = next((lower[n] for n in IN_NAMES if n in lower), None)
    found_out = next((lower[n] for n in OUT_NAMES if n in lower and lower[n] != found_in), None)
    required = [p.name for p in named if p.default is p.empty and p.name not in (found_in, found_out)]
    candidates = [
        p.name
        for p in named
        if p.name not in (found_in, found_out)
        and (p.default is p.empty or (isinstance(p.default, int) and not isinstance(p.default, bool)))
    ]
    return found_in, found_out, required, candidates


def literal_defaults(cls, *channel_args):
    """The other constructor arguments whose defaults are literals (bool, int, float, str):
    they become the entry's hyper-parameters."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}
    return {
        p.name: p.default
        for p in params
        if p.name not in channel_args
        and not p.name.startswith("_")
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and type(p.default) in (bool, int, float, str)
    }


def forward_inputs(cls):
    try:
        params = list(inspect.signature(cls.forward).parameters.values())[1:]
    except (TypeError, ValueError, AttributeError):
        return (1, 2)
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return (1, 2)
    needed = [
        p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return (max(1, len(needed)),)


def probe_job(job, torch, seconds):
    """Everything one module does at the widths and sizes asked for (see the module docstring)."""
    observer = Observer()
    record = {"effects": observer.effects, "stop": None}
    path = os.path.abspath(job["file"])
    watch(observer, torch, path)
    try:
        module = load(path, observer, seconds)
        cls = getattr(module, job["class"], None)
        if job.get("build"):  # a catalog entry's constructor call: it may build a torch layer
            cls = torch.nn.Module
        elif not isinstance(cls, type):
            raise Stop("class", f"the file defines no class {job['class']}")
        if not issubclass(cls, torch.nn.Module):
            raise Stop("class", f"{job['class']} is not a torch.nn.Module")
        observer.phase = "constructor"
        make = _maker(job, cls, module, record, torch, seconds)
        observer.phase = "forward"
        _sweep(job, make, record, torch, seconds, cls)
    except Stop as stop:
        record["stop"] = {"kind": stop.kind, "message": stop.message, "phase": observer.phase}
    return record


def _maker(job, cls, module, record, torch, seconds):
    """A function (in, out, skip) -> module instance, from the build call or the signature."""
    if job.get("build"):
        namespace = vars(module)
        template = job["build"]

        def make(c, d, s):
            torch.manual_seed(0)
            return eval(template.format(in_channels=c, out_channels=d, skip_channels=s), namespace)

        record["args"] = {"in": None, "out": None, "how": "build"}
        return make
    found_in, found_out, required, candidates = constructor_args(cls)
    how = "name" if found_in else None
    if not found_in and candidates:  # by trial: the argument whose value is the input width
        for name in candidates:
            ok = 0
            for width in (24, 40):
                kwargs = {n: width for n in required}
                kwargs[name] = width
                for layout in LAYOUTS:
                    net, error = guarded(seconds, lambda: cls(**kwargs))
                    if net is None:
                        break
                    x = make_input(torch, layout, width, (16, 16))
                    out, error = guarded(seconds, _run, net, [x])
                    if error is None:
                        ok += 1
                        break
            if ok == 2:
                found_in, how = name, "trial"
                break
    missing = [n for n in required if n != found_in]
    if missing:
        raise Stop(
            "constructor",
            f"constructor argument '{missing[0]}' has no default and is not a channel count; "
            "give it a default in the file",
        )
    record["args"] = {
        "in": found_in,
        "out": found_out,
        "how": how,
        "params": literal_defaults(cls, found_in, found_out),
    }

    def make(c, d, s):
        torch.manual_seed(0)
        kwargs = {}
        if found_in:
            kwargs[found_in] = c
        if found_out:
            kwargs[found_out] = d
        return cls(**kwargs)

    return make


def _run(net, inputs):
    import torch

    net.eval()
    with torch.no_grad():
        return net(*inputs)


def _shape(out):
    if isinstance(out, (tuple, list)):
        return {"type": type(out).__name__, "len": len(out)}
    shape = getattr(out, "shape", None)
    return list(shape) if shape is not None else {"type": type(out).__name__}


def _try(make, torch, seconds, c, d, s, layout, inputs, size):
    net, error = guarded(seconds, make, c, d, s)
    if net is None:
        return {"ok": False, "error": f"constructor: {error}", "at": "constructor"}
    xs = [make_input(torch, layout, c, size, 0)] + [make_input(torch, layout, s, size, 1)] * (inputs - 1)
    out, error = guarded(seconds, _run, net, xs)
    if error is not None:
        return {"ok": False, "error": error, "at": "forward"}
    return {"ok": True, "out": _shape(out)}


def _sweep(job, make, record, torch, seconds, cls):
    # inputs, layout, a width and a size at which the module runs at all
    inputs_options = (job["inputs"],) if job.get("inputs") else forward_inputs(cls)
    layouts = (job["layout"],) if job.get("layout") else LAYOUTS
    sizes = [tuple(s) for s in job.get("base_sizes") or [(n, n) for n in BASE_SIZES]]
    widths = [job["base_width"]] if job.get("base_width") else BASE_WIDTHS
    first_error, base = None, None
    for width in widths:
        for size in sizes:
            for inputs in inputs_options:
                for layout in layouts:
                    result = _try(make, torch, seconds, width, width, width, layout, inputs, size)
                    if result["ok"]:
                        base = (inputs, layout, size, width)
                        break
                    first_error = first_error or result["error"]
                if base:
                    break
            if base:
                break
        if base:
            break
    if base is None:
        raise Stop("runs", f"it does not run on any input tried: {first_error}")
    inputs, layout, size, width = base
    d0, s0 = width, width
    record.update(inputs=inputs, layout=layout, base_size=list(size), base_width=width)
    if layout != "tokens":
        record["other_layouts"] = [
            other
            for other in LAYOUTS
            if other not in (layout, "tokens")
            and _try(make, torch, seconds, width, d0, s0, other, inputs, size)["ok"]
        ]
    record["sizes"] = []
    for hw in job["sizes"]:
        result = _try(make, torch, seconds, width, d0, s0, layout, inputs, tuple(hw))
        record["sizes"].append({"size": list(hw), **result})
    record["widths"] = []
    uses_out = bool(record["args"]["out"]) or "{out_channels}" in (job.get("build") or "")
    tried = set()
    for c, d, s in job["widths"]:
        key = (c, d if uses_out else None, s if inputs == 2 else None)
        if key in tried:
            continue
        tried.add(key)
        result = _try(make, torch, seconds, c, d, s, layout, inputs, size)
        record["widths"].append({"in": c, "out_arg": d, "skip": s, **result})
    record["residual"] = _residual(make, torch, seconds, layout, inputs, size, width)


def _residual(make, torch, seconds, layout, inputs, size, width):
    """Whether the output is the input when every parameter is zero (a residual inside)."""
    if inputs != 1:
        return None
    net, error = guarded(seconds, make, width, width, width)
    if net is None:
        return None
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    x = make_input(torch, layout, width, size, 3)
    out, error = guarded(seconds, _run, net, [x])
    if error is not None or not isinstance(out, torch.Tensor) or out.shape != x.shape:
        return None
    return bool(torch.allclose(out, x, atol=1e-6))


def main(request_path, result_path):
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    network = _ISOLATE["isolate"](request["memory_mb"])
    sys.dont_write_bytecode = True
    import torch

    torch.set_num_threads(1)
    sys.addaudithook(_ISOLATE["socket_guard"]("probing a module"))
    real_print_streams = (sys.stdout, sys.stderr)
    results = []
    with open("progress.txt", "a", encoding="utf-8") as progress:
        for index, job in enumerate(request["jobs"]):
            progress.write(f"{index}\n")
            progress.flush()
            results.append(probe_job(job, torch, request["call_timeout"]))
            sys.stdout, sys.stderr = real_print_streams
            sys.modules.pop("probed_module", None)
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump({"network": network, "jobs": results}, handle)
    return 0


if __name__ == "__main__":
    os._exit(main(sys.argv[1], sys.argv[2]))
