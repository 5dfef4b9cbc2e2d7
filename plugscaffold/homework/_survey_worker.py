"""Survey every solution of a homework; runs in a subprocess (``python _survey_worker.py REQUEST``).

It imports only the standard library, torch and the solutions' model.py files. For each
solution it records how the model builds the classes the student implements (the cases),
measures the parameter counts of the catalog's reference configurations, keeps the
constraint probes that the solution rejects with ValueError, and saves the public
self-check tensors (example weights, inputs and outputs the student's tests compare with;
grading uses fresh, hidden ones). The request and the answer are JSON files; constructor
arguments are JSON with tuples written ``{"tuple": [...]}`` (``_codec.py``).
"""

import importlib.util
import json
import os
import runpy
import sys

import torch

#: the one JSON form of constructor arguments (this script imports nothing from plugscaffold)
_CODEC = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_codec.py"))
decode, encode = _CODEC["decode"], _CODEC["encode"]
#: Two cases at most per class: its first construction and the one whose channels differ most.
CASES_PER_CLASS = 2


def is_literal(value):
    try:
        return decode(json.loads(json.dumps(encode(value)))) == value
    except (TypeError, ValueError):
        return False


def construct(classes, call):
    return classes[call["class"]](*decode(call["args"]), **decode(call["kwargs"]))


def load_module(path, index):
    loader = importlib.util.spec_from_file_location(f"homework_solution_{index}", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def record_constructions(module, job):
    """Build the model, recording each construction of a class to implement and its input shapes."""
    classes = {name: getattr(module, name) for name in job["classes"]}
    made, own = {}, {name: cls.__dict__.get("__init__") for name, cls in classes.items()}

    def recorder(name, original):
        def __init__(self, *args, **kwargs):
            made.setdefault(id(self), (self, name, args, kwargs))
            original(self, *args, **kwargs)

        return __init__

    for name, cls in classes.items():
        cls.__init__ = recorder(name, cls.__init__)
    try:
        torch.manual_seed(job["seed"])
        net = getattr(module, job["class_name"])()
    finally:
        for name, cls in classes.items():
            if own[name] is None:
                del cls.__init__
            else:
                cls.__init__ = own[name]
    inputs, handles = {}, []
    for key, (instance, *_rest) in made.items():

        def hook(_module, args, key=key):
            inputs.setdefault(key, [list(a.shape) for a in args if isinstance(a, torch.Tensor)])

        handles.append(instance.register_forward_pre_hook(hook))
    generator = torch.Generator().manual_seed(job["seed"])
    x = torch.randn(1, job["in_channels"], job["size"], job["size"], generator=generator)
    net.eval()
    with torch.no_grad():
        out = net(x)
    for handle in handles:
        handle.remove()
    model = {
        "class": job["class_name"],
        "input": list(x.shape),
        "output": list(out.shape),
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    configs = {}  # distinct literal constructions, in the model's order
    for path, sub in net.named_modules():
        key = id(sub)
        if key not in made or not inputs.get(key):
            continue
        _, name, args, kwargs = made[key]
        if not (is_literal(args) and is_literal(kwargs)):
            continue
        call = {"class": name, "args": encode(tuple(args)), "kwargs": encode(dict(kwargs))}
        config = configs.setdefault(json.dumps(call), {"call": call, "layers": [], "inputs": inputs[key]})
        config["layers"].append(path)
    return classes, model, list(configs.values())


def choose_cases(job, configs):
    chosen = []
    for name in job["classes"]:
        mine = [c for c in configs if c["call"]["class"] == name]
        if not mine:
            continue
        picked = [mine[0]]
        width = sum(s[1] for s in mine[0]["inputs"])
        others = sorted(mine[1:], key=lambda c: abs(sum(s[1] for s in c["inputs"]) - width))
        if others and sum(s[1] for s in others[-1]["inputs"]) != width:
            picked.append(others[-1])
        chosen += picked[:CASES_PER_CLASS]
    return chosen


def scaled(shapes, height, width):
    """The recorded input shapes at batch 2, H and W scaled so that the first input is height x width."""
    first = shapes[0]
    if any(len(s) != 4 for s in shapes):
        raise RuntimeError(f"the module takes inputs that are not (B, C, H, W): {shapes}")
    return [
        [2, s[1], max(1, round(height * s[2] / first[2])), max(1, round(width * s[3] / first[3]))]
        for s in shapes
    ]


def self_check(cls, config, job, index):
    """The public example for one case: weights off their init, inputs at two sizes, outputs."""
    seed = job["seed"] * 1000 + index
    torch.manual_seed(seed)
    module = cls(*decode(config["call"]["args"]), **decode(config["call"]["kwargs"]))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.is_floating_point():
                p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    sizes, ins, outs = [], [], []
    module.eval()
    for height, width in job["sizes"]:
        shapes = scaled(config["inputs"], height, width)
        xs = [torch.randn(s, generator=generator) for s in shapes]
        try:
            with torch.no_grad():
                out = module(*xs)
        except Exception:  # a size this module does not accept is not tested
            continue
        if not isinstance(out, torch.Tensor) or not bool(torch.isfinite(out).all()):
            raise RuntimeError(f"{config['call']['class']} returned no finite tensor for inputs {shapes}")
        sizes.append({"inputs": shapes, "output": list(out.shape)})
        ins.append(xs)
        outs.append(out.detach().clone())
    if not sizes:
        raise RuntimeError(f"{config['call']['class']} accepts none of the test sizes {job['sizes']}")
    return sizes, {"state_dict": state, "inputs": ins, "outputs": outs}


def survey(job):
    module = load_module(job["path"], job["index"])
    classes, model, configs = record_constructions(module, job)
    cases, tensors = [], {}
    for config in choose_cases(job, configs):
        cls = classes[config["call"]["class"]]
        sizes, saved = self_check(cls, config, job, len(cases))
        torch.manual_seed(0)
        state = construct(classes, config["call"]).state_dict()
        name = config["layers"][0]
        cases.append(
            {
                "name": name,
                "call": config["call"],
                "inputs": config["inputs"],
                "layers": config["layers"],
                "model_size": job["size"],
                "state": [[k, list(v.shape)] for k, v in state.items()],
                "sizes": sizes,
            }
        )
        tensors[name] = saved
    if not cases:
        raise RuntimeError(
            f"{', '.join(job['classes'])}: never built with literal arguments, so not testable"
        )
    counts = []
    for count in job["counts"]:
        try:
            instance = construct(classes, count["call"])
        except Exception:  # a configuration this implementation does not accept is not a test
            continue
        counts.append({**count, "count": sum(p.numel() for p in instance.parameters())})
    probes = []
    for probe in job["probes"]:
        try:
            construct(classes, probe["call"])
        except ValueError:
            probes.append(probe)
        except Exception:
            continue
    torch.save(tensors, job["self_check"])
    return {"cases": cases, "counts": counts, "probes": probes, "model": model}


def main(request_path):
    sys.dont_write_bytecode = True  # no __pycache__ next to the solutions
    torch.set_num_threads(1)
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    results = []
    for job in request["jobs"]:
        try:
            results.append(survey(job))
        except Exception as exc:  # reported to the parent, which names the student
            results.append({"error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
    with open(request["result"], "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main(sys.argv[1])
