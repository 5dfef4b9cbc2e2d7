"""Smoke check of one generated model file; runs in a subprocess, prints one JSON object.

Run as a script (``python _smoke_worker.py REQUEST``): it imports only the standard
library, torch and the model file, so it also proves the file is standalone. With ``-`` as
the request it imports torch first and then reads the request from stdin, so that a caller
can start it while the model file is still being generated.
"""

import importlib.util
import json
import sys
import time
import traceback


def load(path, class_name):
    spec = importlib.util.spec_from_file_location("generated_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def measure_on_meta(path, class_name, shape):
    """Parameters and forward FLOPs of a model built on the meta device: no memory, no compute."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = load(path, class_name)()
        x = torch.empty(shape)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "forward_flops": int(counter.get_total_flops()),
    }


def check(request):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(request.get("seed", 0))
    model = load(request["path"], request["class_name"])()
    shapes, current = {}, []

    def before(name):
        return lambda _module, _inputs: current.append(name)

    def after(name):
        def hook(_module, _inputs, output):
            current.pop()
            shapes.setdefault(name, list(output.shape))

        return hook

    for name in request["layers"]:
        layer = getattr(model, name)
        layer.register_forward_pre_hook(before(name))
        layer.register_forward_hook(after(name))

    x = torch.randn(request["batch"], request["in_channels"], request["height"], request["width"])
    started = time.perf_counter()
    try:
        with FlopCounterMode(display=False) as counter:
            out = model(x)
        out.float().square().mean().backward()
    except Exception as exc:  # report where it failed, then let the parent phrase it
        where = current[-1] if current else None
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0], "layer": where}
    seconds = time.perf_counter() - started
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    bad_grad = [
        n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()
    ]
    shape = (request["batch"], request["in_channels"], request["height"], request["width"])
    baseline = request.get("baseline")
    return {
        "ok": True,
        "baseline": measure_on_meta(baseline, request["class_name"], shape) if baseline else None,
        "output_shape": list(out.shape),
        "output_finite": bool(torch.isfinite(out).all()),
        "no_grad": no_grad,
        "nonfinite_grad": bad_grad,
        "parameters": sum(p.numel() for p in model.parameters()),
        "forward_flops": int(counter.get_total_flops()),
        "shapes": shapes,
        "seconds": seconds,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def warm_up():
    """Import torch and use the FLOP counter once: its first use imports torch._dynamo (~1 s)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False):
        torch.nn.functional.linear(torch.ones(1, 1), torch.ones(1, 1))


def main():
    if sys.argv[1] == "-":
        warm_up()  # the slow part, done while the caller still renders
        request = json.loads(sys.stdin.read())
    else:
        request = json.loads(sys.argv[1])
    try:
        result = check(request)
    except Exception as exc:  # import or construction failed
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        result = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}".splitlines()[0],
            "layer": None,
            "line": frame.lineno if frame.filename == request["path"] else None,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
