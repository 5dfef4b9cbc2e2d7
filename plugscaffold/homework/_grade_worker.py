"""Run one submission's graded checks; a standalone script (``python -I _grade_worker.py WORKDIR FD``).

The grader starts it in its own process group, in a scratch folder holding a copy of the
submitted model.py, ``tasks.json`` (what to run) and ``materials.pt`` (the weights and
inputs the grader drew for this run; never the expected results). Before it imports torch
and the submission it caps its memory (RLIMIT_AS), forbids core files, and cuts the network:
a new user and network namespace when the kernel allows one (then no process it starts has
a network either), and in any case an audit hook that refuses sockets in this process.

For each task it writes ``results/<index>.pt`` (tensors only) and reports progress as JSON
lines on file descriptor FD: ``loaded`` (or ``load_error`` with the first line of the
error), ``start``, ``done`` (with ``error`` when the check raised), ``finished``. The
grader times every task, and compares the results with those of the same function run on
the solution (it imports this file for that), so verdicts never come from this process.
Constructor arguments are JSON with tuples written ``{"tuple": [...]}`` (``_codec.py``).
"""

import importlib.util
import json
import os
import runpy
import sys
import traceback

#: the one JSON form of constructor arguments (this script imports nothing from plugscaffold)
decode = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_codec.py"))["decode"]
#: memory cap and network cut, shared with plugscaffold add's probe worker (plugscaffold/_isolate.py)
_ISOLATE = runpy.run_path(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_isolate.py")
)
isolate, refuse_sockets = _ISOLATE["isolate"], _ISOLATE["socket_guard"]("grading")


# --- the checks: the same code runs the solution (in the grader) and the submission ---------


def cls_of(module, name):
    if not isinstance(getattr(module, name, None), type):
        raise AttributeError(f"model.py defines no class {name}")
    return getattr(module, name)


def build(module, call):
    return cls_of(module, call["class"])(*decode(call["args"]), **decode(call["kwargs"]))


def layout(net):
    return [[k, list(v.shape)] for k, v in net.state_dict().items()]


def run_task(module, task, materials):
    """One check on ``module`` (a loaded model.py): a dict of tensors, numbers and names."""
    import torch

    kind = task["kind"]
    if kind in ("construct", "count"):
        net = build(module, task["call"])
        if not isinstance(net, torch.nn.Module):
            return {"error": f"{task['call']['class']} is not a torch.nn.Module"}
        return {"state": layout(net), "parameters": sum(p.numel() for p in net.parameters())}
    if kind == "rejects":
        try:
            build(module, task["call"])
        except ValueError:
            return {"raised": "ValueError"}
        except Exception as exc:  # the wrong exception is a failed check, not a crash
            return {"raised": type(exc).__name__}
        return {"raised": ""}
    if kind == "model-build":
        net = cls_of(module, task["model"])()
        return {"state": layout(net), "parameters": sum(p.numel() for p in net.parameters())}
    data = materials[task["case"]]
    if kind == "model-output":
        net = cls_of(module, task["model"])()
    else:
        net = build(module, task["call"])
    net.load_state_dict(data["state"])
    if kind in ("eval", "model-output"):
        net.eval()
        with torch.no_grad():
            out = net(*data["inputs"][task["index"]])
        return {"output": out}
    net.train()
    torch.manual_seed(task["seed"])  # dropout draws the same masks on both sides
    if kind == "train":
        with torch.no_grad():
            out = net(*data["train"])
        return {"output": out}
    inputs = [x.clone().requires_grad_(True) for x in data["train"]]
    out = net(*inputs)
    if not isinstance(out, torch.Tensor) or out.shape != data["upstream"].shape:
        return {"output": out}  # the grader reports the wrong shape
    (out * data["upstream"]).sum().backward()
    grads = {f"input {i}": (x.grad if x.grad is not None else torch.zeros(0)) for i, x in enumerate(inputs)}
    for name, p in net.named_parameters():
        grads[f"parameter {name}"] = p.grad if p.grad is not None else torch.zeros(0)
    return {"grads": grads}


# --- the worker process ----------------------------------------------------------------------


def first_line(exc, memory_mb=0):
    if isinstance(exc, MemoryError) and memory_mb:
        return f"MemoryError (the memory cap is {memory_mb} MiB)"
    if isinstance(exc, SyntaxError):
        where = f" (model.py, line {exc.lineno})" if exc.lineno else ""
        return f"SyntaxError: {exc.msg}{where}"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}"[:300] if lines else type(exc).__name__


def main(workdir, fd, memory_mb, start):
    report = os.fdopen(fd, "w", buffering=1)

    def say(**event):
        report.write(json.dumps(event) + "\n")
        report.flush()

    network = isolate(memory_mb)
    sys.dont_write_bytecode = True
    os.chdir(workdir)
    import torch

    torch.set_num_threads(1)
    with open("tasks.json", encoding="utf-8") as handle:
        tasks = json.load(handle)
    materials = torch.load("materials.pt", weights_only=True)
    sys.addaudithook(refuse_sockets)
    try:
        spec = importlib.util.spec_from_file_location("submission", os.path.join(workdir, "model.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["submission"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit too: the submission never loaded
        say(event="load_error", message=first_line(exc, memory_mb))
        return 0
    say(event="loaded", network=network)
    for index in range(start, len(tasks)):
        say(event="start", index=index)
        try:
            result = run_task(module, tasks[index], materials)
            torch.save(result, os.path.join("results", f"{index}.pt"))
            say(event="done", index=index)
        except Exception as exc:
            say(event="done", index=index, error=first_line(exc, memory_mb), where=_where(exc))
    say(event="finished")
    return 0


def _where(exc):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith("model.py")]
    return f"model.py, line {frames[-1].lineno}" if frames else ""


if __name__ == "__main__":
    os._exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
