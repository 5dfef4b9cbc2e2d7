"""The study's measuring process: torch is imported once, then every variant is checked and measured.

Run as ``python _measure_worker.py PARENT_PID``; reads one JSON request per line on stdin and
answers one JSON line each. A request is the smoke check's (see ``_smoke_worker.check``, loaded
from the file next to the package, so the check and its answer on failure are the ones ``new``
gives) plus the measurement settings. Besides the check it measures, on the CPU:

- ``parameters``: the model's parameter count;
- ``flops``: the check's count of its forward pass, at the check's batch and size: torch's own
  per-operator formulas (``torch.utils.flop_counter``) dispatched exactly as ``FlopCounterMode``
  dispatches them (see ``_smoke_worker.flop_counter``; 2 FLOPs per multiply-add, the matrix
  products of attention included), without FlopCounterMode's first-use import of torch._dynamo
  (about 4 s); tests/test_ablate.py compares every variant with FlopCounterMode itself;
- ``activation_bytes``: the bytes of the tensors autograd saves for backward during one training
  forward pass (``torch.autograd.graph.saved_tensors_hooks``, each storage counted once): the
  activations a training step holds at its peak, without parameters, gradients, optimizer state
  or transient buffers (so it is a lower bound of the process's peak, and independent of the
  allocator);
- ``latency_ms``: the median of ``repeats`` forward passes in eval mode under
  ``torch.inference_mode`` after ``warmup`` passes, with ``threads`` intra-op threads.
"""

import importlib.util
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "_plugscaffold_smoke_worker", os.path.join(os.path.dirname(HERE), "_smoke_worker.py")
)
smoke = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(smoke)


def activation_bytes(model, x):
    """The bytes autograd saves for backward in one training forward pass (distinct storages,
    parameters and the input left out)."""
    import torch

    seen = {}

    def pack(tensor):
        try:
            storage = tensor.untyped_storage()
            seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        except (RuntimeError, NotImplementedError):  # a tensor without storage (sparse, ...)
            pass
        return tensor

    skip = {p.untyped_storage().data_ptr() for p in model.parameters()} | {x.untyped_storage().data_ptr()}
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = model(x)
    del out
    return sum(size for ptr, size in seen.items() if ptr not in skip)


def measure(request):
    import torch

    result = smoke.check(request)  # the check of `new`: forward, backward, shapes, finite
    if not result["ok"]:
        return result
    threads = torch.get_num_threads()
    torch.set_num_threads(request["threads"])
    try:
        torch.manual_seed(0)
        model = smoke.load(request["path"], request["class_name"])()
        shape = (request["batch"], request["in_channels"], request["height"], request["width"])
        x = torch.randn(shape)
        memory = activation_bytes(model, x)
        model.eval()
        times = []
        with torch.inference_mode():
            for i in range(request["warmup"] + request["repeats"]):
                started = time.perf_counter()
                model(x)
                if i >= request["warmup"]:
                    times.append(time.perf_counter() - started)
        result["measure"] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "flops": result["forward_flops"],
            "activation_bytes": int(memory),
            "latency_ms": statistics.median(times) * 1000,
            "latency_spread_ms": (max(times) - min(times)) * 1000,
            "threads": torch.get_num_threads(),
        }
    finally:
        torch.set_num_threads(threads)
    return result


def main():
    if len(sys.argv) > 1:
        smoke.die_with_parent(int(sys.argv[1]))
    smoke.warm_up()
    import torch

    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        print(json.dumps(smoke.answer(measure, json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
