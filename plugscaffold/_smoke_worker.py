"""Smoke check of one generated model file; runs in a subprocess, prints one JSON object.

Run as a script (``python _smoke_worker.py REQUEST [PARENT_PID]``): it imports only the
standard library, torch and the model file, so it also proves the file is standalone. With
``-`` as the request it imports torch first and then reads the request from stdin, so that a
caller can start it while the model file is still being generated. Given its parent's pid, it
dies with its parent (:func:`die_with_parent`).
"""

import importlib.util
import json
import os
import signal
import sys
import time
import traceback


def load(path, class_name):
    spec = importlib.util.spec_from_file_location("generated_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)


#: Checks of at most this many input pixels (batch x H x W) are small: they run on PyTorch's
#: native CPU convolutions, since oneDNN compiles a kernel for every new convolution shape on
#: first use (2 to 4 s for an encoder-decoder), which a check that runs once never earns back at small
#: sizes. (Threads: the parent starts this worker with OMP_WAIT_POLICY=PASSIVE; spinning
#: threads made the headline's check take 7 to 12 s on 2 threads instead of 1.3 s on one, on a
#: 2-core machine with a load of 8, and waiting passively 2 threads cost what one does there.)
SMALL_PIXELS = 2 * 128 * 128


def flop_counter():
    """A context that counts forward FLOPs with torch's own per-operator formulas
    (``torch.utils.flop_counter.flop_registry``: convolutions and matrix products, 2 FLOPs per
    multiply-add), dispatching exactly as ``FlopCounterMode`` does, so the totals are equal.

    It is a plain dispatch mode because ``FlopCounterMode``'s first use imports torch._dynamo
    (about 1 s): a dispatch mode that opts out of dynamo's wrapping does not. Nothing in the
    check is compiled, so that wrapping has nothing to do here.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class FlopCounter(TorchDispatchMode):
        total = 0

        @classmethod
        def _should_skip_dynamo(cls):
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is not torch.ops.prim.device.default:  # as FlopCounterMode: count the parts
                with self:
                    decomposed = func.decompose(*args, **kwargs)
                if decomposed is not NotImplemented:
                    return decomposed
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=out)
            return out

    return FlopCounter()


def nonfinite(named):
    """The names of the tensors in ``named`` (name, tensor) that hold a NaN or an infinity.

    A tensor's sum is finite when all its elements are, so one summing pass (a tenth of the
    time of an element-wise test over a whole model's gradients) clears almost every tensor; the few
    whose sum is not finite (a NaN or infinity, or a sum that overflowed) are tested element
    by element, so the answer is exact.
    """
    import torch

    if not named:
        return []
    sums = torch.stack([tensor.sum() for _, tensor in named])
    suspects = torch.nonzero(~torch.isfinite(sums)).flatten().tolist()
    return [named[i][0] for i in suspects if not torch.isfinite(named[i][1]).all()]


def measure(path, class_name, shape, device):
    """Parameters and forward FLOPs of a model, built and run on ``device``: the meta device
    (no memory, no compute; its first use costs seconds of imports) for large inputs, the CPU
    (a forward pass without autograd) for small ones."""
    import torch

    with torch.device(device):
        model = load(path, class_name)()
        x = torch.zeros(shape)
    with torch.no_grad(), flop_counter() as counter:
        model(x)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "forward_flops": int(counter.total),
    }


def check(request):
    """Run the check of ``request``; small checks on native kernels (SMALL_PIXELS), the setting
    put back afterwards (the tests run checks in their own process)."""
    import torch

    small = request["batch"] * request["height"] * request["width"] <= SMALL_PIXELS
    mkldnn = torch.backends.mkldnn.enabled
    if small:
        torch.backends.mkldnn.enabled = False
    try:
        return _check(request, small)
    finally:
        torch.backends.mkldnn.enabled = mkldnn


def _check(request, small):
    import torch

    torch.manual_seed(request.get("seed", 0))
    model = load(request["path"], request["class_name"])()
    shapes, current = {}, []

    def before(name):
        return lambda _module, _inputs: current.append(name)

    def after(name):
        def hook(_module, _inputs, output):
            current.pop()
            if isinstance(output, (tuple, list)):  # an encoder's features: the deepest is last
                output = output[-1]
            shapes.setdefault(name, list(output.shape))

        return hook

    for name in request["layers"]:
        layer = model.get_submodule(name)  # "layer1", or "features.3" inside a container
        layer.register_forward_pre_hook(before(name))
        layer.register_forward_hook(after(name))

    x = torch.randn(request["batch"], request["in_channels"], request["height"], request["width"])
    started = time.perf_counter()
    try:
        with flop_counter() as counter:
            out = model(x)
        out.float().square().mean().backward()
    except Exception as exc:  # report where it failed, then let the parent phrase it
        where = current[-1] if current else None
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0], "layer": where}
    seconds = time.perf_counter() - started
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    bad_grad = nonfinite([(n, p.grad) for n, p in model.named_parameters() if p.grad is not None])
    shape = (request["batch"], request["in_channels"], request["height"], request["width"])
    baseline = request.get("baseline")
    return {
        "ok": True,
        "baseline": (
            measure(baseline, request["class_name"], shape, "cpu" if small else "meta") if baseline else None
        ),
        "output_shape": list(out.shape),
        "output_finite": bool(torch.isfinite(out).all()),
        "no_grad": no_grad,
        "nonfinite_grad": bad_grad,
        "parameters": sum(p.numel() for p in model.parameters()),
        "forward_flops": int(counter.total),
        "shapes": shapes,
        "seconds": seconds,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def warm_up():
    """Import torch and the FLOP counter's formulas, and use the counter once."""
    import torch

    with flop_counter():
        torch.nn.functional.linear(torch.ones(1, 1), torch.ones(1, 1))


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent):
    """On Linux, have the kernel SIGKILL this process as soon as ``parent`` (the pid of the
    plugscaffold process that started it) exits, however it exits: killed by SIGKILL, or
    by a signal it did not handle. Elsewhere the parent's own cleanup is all there is."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):  # not Linux, or no prctl
        return
    if os.getppid() != parent:  # the parent exited before the death signal was set
        os._exit(1)


def answer(run, request):
    """``run(request)``'s result, or the failure when the model file could not be imported or
    built: the exception's first line, and its line when it was raised in the model file.
    This worker's answer and the study's measuring worker's (``ablate/_measure_worker.py``)."""
    try:
        return run(request)
    except Exception as exc:  # import or construction failed
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}".splitlines()[0],
            "layer": None,
            "line": frame.lineno if frame.filename == request["path"] else None,
        }


def main():
    if len(sys.argv) > 2:
        die_with_parent(int(sys.argv[2]))
    if sys.argv[1] == "-":
        warm_up()  # the slow part, done while the caller still renders
        request = json.loads(sys.stdin.read())
    else:
        request = json.loads(sys.argv[1])
    print(json.dumps(answer(check, request)))


if __name__ == "__main__":
    main()
