"""The student's files: model.py with TODO stubs, the public self-check tests and the README.

The stubs keep each class's name, bases and signatures and state its contract in the
docstring; helpers only the stubbed classes used are removed with them.
"""

from __future__ import annotations

import ast
import copy
import re
import shutil
import textwrap
from pathlib import Path

from ..catalog import Catalog, Entry, paper_link
from ..inline import splice
from ..plan import Shape, callee
from .build import SELF_CHECK_FILE, TEST_FILE, Variant
from .checks import checks_for, shares
from .spec import HomeworkSpec

_SCALES = {0.5: "H/2, W/2", 1: "H, W", 2: "2H, 2W"}


def _shape_text(shape: list[int], model_size: int) -> str:
    """(B, C, H/4, W/4) for a recorded input of a model run at ``model_size``."""
    ratio = model_size // shape[2] if len(shape) == 4 and shape[2] else 0
    if ratio and ratio * shape[2] == model_size and ratio & (ratio - 1) == 0:
        return Shape(shape[1], ratio.bit_length() - 1).text
    return f"(B, {', '.join(str(s) for s in shape[1:])})"


def _paper_lines(entry: Entry) -> list[str]:
    lines = [f"{entry.title[:1].upper()}{entry.title[1:]} ({entry.slot} module '{entry.name}')."]
    paper = entry.paper or {}
    if paper:
        link = paper_link(paper)  # the paper itself (Entry.link prefers the code, given below)
        lines.append(f"Paper: {paper['title']} ({entry.citation})." + (f" {link}" if link else ""))
    if entry.code:
        lines.append(
            f"Official code: {entry.code}" + (f" (licence: {entry.license})" if entry.license else "")
        )
    return lines


def _contract_lines(entry: Entry, forward_args: list[str], variant: Variant, class_name: str) -> list[str]:
    contract = entry.contract
    scale = _SCALES.get(contract.scale, f"H*{contract.scale}, W*{contract.scale}")
    names = forward_args or ["x"]
    ins = [f"{names[0]} (B, in_channels, H, W)"]
    if len(names) > 1:
        ins.append(f"{names[1]} (B, skip_channels, H, W)")
    lines = [
        f"forward({', '.join(names)}): {', '.join(ins)} -> (B, {contract.channels}, {scale}), "
        f"layout {contract.layout}.",
        f"The model builds it as {entry.build} (channel arguments first).",
    ]
    if contract.align == "equal":
        lines.append("Both inputs have the same number of channels.")
    if contract.constraints:
        lines.append("Constraints (check them in __init__, raise ValueError naming the numbers):")
        lines += [f"    {c.check}: {c.reason}" for c in contract.constraints]
    if entry.params:
        lines.append("Hyper-parameters (keyword arguments with the paper's defaults):")
        lines += [f"    {p.name}: {p.type} = {p.default!r}: {p.help}" for p in entry.params.values()]
    for count in (c for c in variant.reference.counts if c.call.cls == class_name):
        lines.append(f"Parameters: {count.count:,} at {count.call.text}.")
    lines.append("Use torch only; create new tensors on the input's device and dtype.")
    return lines


def _stub_class(node: ast.ClassDef, variant: Variant) -> str:
    """The TODO version of one class: name, bases, signatures and a docstring stating the contract."""
    entry = variant.entry_of(node.name)
    bases = [ast.unparse(b) for b in node.bases] + [ast.unparse(k) for k in node.keywords]
    original = ast.get_docstring(node) or ""
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    forward = methods.get("forward")
    forward_args = [a.arg for a in forward.args.args[1:]] if forward else []
    cases = [c for c in variant.reference.cases if c.call.cls == node.name]

    doc = [original.splitlines()[0] if original else f"{entry.title}.", ""]
    doc.append("TODO: implement this class (__init__ and forward) from the paper.")
    doc.append("")
    doc += _paper_lines(entry)
    if node.name == callee(entry.build):
        doc += ["", "Contract:"]
        doc += [f"    {line}" for line in _contract_lines(entry, forward_args, variant, node.name)]
    if cases:
        doc += ["", "In this model:"]
        for case in cases:
            shapes = ", ".join(_shape_text(s, case.model_size) for s in case.inputs)
            doc.append(f"    {case.call.text}: input {shapes}, at {', '.join(case.layers)}")
        first = cases[0]
        doc += [
            "",
            (
                f"state_dict of {first.call.text}: the tests and the grader load the solution's weights "
                "into your module, so use exactly these names and shapes:"
            ),
        ]
        doc += [f"    {key}: {tuple(shape)}" for key, shape in first.state] or [
            "    (empty: no parameters or buffers)"
        ]
    text = "\n".join([doc[0], *(_wrap(line) for line in doc[1:])])
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')

    lines = [f"class {node.name}({', '.join(bases)}):" if bases else f"class {node.name}:"]
    lines.append(textwrap.indent(f'"""{text}\n"""', "    "))
    for method in ("__init__", "forward"):
        if method not in methods:
            continue
        signature = copy.deepcopy(methods[method])
        signature.body, signature.decorator_list = [ast.Pass()], []
        lines.append("")
        lines.append(textwrap.indent(ast.unparse(signature).rsplit("\n", 1)[0], "    "))
        if method == "__init__":
            message = (
                f"TODO: write {node.name}.__init__ in model.py: build the layers "
                "(see the class docstring for the state_dict names)"
            )
        else:
            message = (
                f"TODO: write {node.name}.forward in model.py (see the class docstring for the contract)"
            )
        lines.append(f"        raise NotImplementedError({message!r})")
    return "\n".join(lines) + "\n"


def _wrap(line: str, width: int = 84) -> str:
    """Wrap a docstring line; indented lines (list items) hang by four more spaces.

    Short parenthesised groups (shapes, constructor calls) are never split.
    """
    if len(line) <= width:
        return line
    body = line.lstrip()
    indent = line[: len(line) - len(body)]
    glued = re.sub(r"\([^()]{0,80}\)", lambda m: m.group(0).replace(" ", "\0"), body)
    wrapped = textwrap.fill(
        glued,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + ("    " if indent else ""),
        break_on_hyphens=False,
        break_long_words=False,
    )
    return wrapped.replace("\0", " ")


def student_source(source: str, variant: Variant, spec: HomeworkSpec) -> str:
    """The solution's model.py with the classes to implement replaced by TODO stubs.

    Helper classes and functions only those classes used are removed with them, and so
    are imports nothing uses any more; the module docstring says what to do instead of
    how to regenerate the solution.
    """
    from ..render import format_code

    tree = ast.parse(source)
    top = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    stubbed = [top[name] for name in variant.classes if name in top]
    # helpers the stubbed classes use, transitively: candidates for removal
    helpers: set[str] = set()
    todo = [n for n in stubbed]
    while todo:
        node = todo.pop()
        for name in {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}:
            if name in top and name not in helpers and name not in variant.classes:
                helpers.add(name)
                todo.append(top[name])
    text = splice(source, [(node, _stub_class(node, variant)) for node in stubbed])
    text = _remove_unused(text, helpers)
    text = _student_docstring(text, variant, spec)
    text = _prune_imports(text)
    return format_code(text)


def _remove_unused(text: str, candidates: set[str]) -> str:
    """Drop top-level definitions in ``candidates`` that nothing else refers to, until none is left."""
    while True:
        tree = ast.parse(text)
        defs = [
            n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name in candidates
        ]
        dead = None
        for node in defs:
            used = any(
                isinstance(n, ast.Name) and n.id == node.name
                for other in tree.body
                if other is not node
                for n in ast.walk(other)
            )
            if not used:
                dead = node
                break
        if dead is None:
            return text
        text = splice(text, [(dead, "")])


def _prune_imports(text: str) -> str:
    """Remove imported names nothing refers to (ruff F401 clean)."""
    tree = ast.parse(text)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    replacements = []
    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        keep = [a for a in node.names if (a.asname or a.name.split(".")[0]) in used]
        if len(keep) == len(node.names):
            continue
        replacement = ""
        if keep:
            clone = copy.copy(node)
            clone.names = keep
            replacement = ast.unparse(clone) + "\n"
        replacements.append((node, replacement))
    return splice(text, replacements)


def _student_docstring(text: str, variant: Variant, spec: HomeworkSpec) -> str:
    """Replace 'Regenerate with: ...' in the module docstring by the assignment."""
    tree = ast.parse(text)
    first = tree.body[0] if tree.body else None
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return text
    doc = first.value.value.splitlines()
    start = next((i for i, line in enumerate(doc) if line.startswith("Generated by plugscaffold")), None)
    if start is not None:
        end = start + 1
        while end < len(doc) and (not doc[end].strip() or doc[end].startswith("    ")):
            end += 1
        del doc[start:end]
    todo = ", ".join(variant.classes)
    who = variant.student.id + (f" ({', '.join(variant.student.members)})" if variant.student.members else "")
    assignment = [
        f"Assignment for {who} ({spec.title}).",
        _wrap(f"Implement the classes marked TODO below: {todo}. The class docstrings state the contract."),
        f"Check your work in this folder with: python -m pytest -q {TEST_FILE}",
        "",
    ]
    doc[1:1] = ["", *assignment]
    body = "\n".join(doc).rstrip("\n").replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = text.splitlines(keepends=True)
    lines[first.lineno - 1 : first.end_lineno] = [f'"""{_collapse_blank(body)}\n"""\n']
    return "".join(lines)


def _collapse_blank(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text)


# --- writing one variant -----------------------------------------------------------------------


def write_variant(stage: Path, variant: Variant, spec: HomeworkSpec, catalog: Catalog) -> None:
    """The solution's project files and the student's folder of one variant, into ``stage``."""
    from ..answers import ANSWERS_FILE, GENERATED_FILE, answers, record_generated
    from ..render import with_parameters

    sid, gen, ref = variant.student.id, variant.generated, variant.reference
    assert ref is not None
    solution, student = stage / "solutions" / sid, stage / "students" / sid
    source = gen.source if gen.smoke else with_parameters(gen.source, ref.model.parameters)
    contents = dict(gen.contents)
    contents["model.py"] = source
    if ANSWERS_FILE in contents and not gen.smoke:  # the record of what was generated, counted
        files = {k: v for k, v in contents.items() if k not in (ANSWERS_FILE, GENERATED_FILE)}
        contents.update(record_generated(answers(gen.plan, catalog, ref.model.parameters), files))
    tests = render_tests(variant, spec)
    for relative, text in {**contents, TEST_FILE: tests}.items():
        (solution / relative).parent.mkdir(parents=True, exist_ok=True)
        (solution / relative).write_text(text, encoding="utf-8")
    (student / "model.py").write_text(student_source(source, variant, spec), encoding="utf-8")
    (student / TEST_FILE).write_text(tests, encoding="utf-8")
    (student / "README.md").write_text(render_readme(variant, spec), encoding="utf-8")
    shutil.copyfile(student / SELF_CHECK_FILE, solution / SELF_CHECK_FILE)


def render_tests(variant: Variant, spec: HomeworkSpec) -> str:
    """The public self-check: the student's own tests, with the example tensors of self_check.pt."""
    from ..render import environment, format_code

    ref = variant.reference
    assert ref is not None
    shapes, shape_ids = [], []
    for c in ref.cases:
        for k, size in enumerate(c.sizes):
            shapes.append((c.name, k, [tuple(s) for s in size["inputs"]], tuple(size["output"])))
            shape_ids.append(f"{c.name}-{size['inputs'][0][2]}x{size['inputs'][0][3]}")
    contracts = {}
    for name in variant.classes:
        entry = variant.entry_of(name)
        scale = _SCALES.get(entry.contract.scale, f"scale {entry.contract.scale}")
        contracts[name] = f"output (B, {entry.contract.channels}, {scale}) for input (B, in_channels, H, W)"
    parameters = [
        (
            c.call.cls, c.call.args, c.call.kwargs, c.count,
            "the catalog's figure, measured on the official code" if c.count == c.catalog else "the solution",
        )
        for c in ref.counts
    ]  # fmt: skip
    invalid = [(p.call.cls, p.call.args, p.call.kwargs, p.reason) for p in ref.probes]
    model = ref.model
    data = {
        "title": spec.title,
        "student": variant.student.id,
        "classes": variant.classes,
        "self_check_file": SELF_CHECK_FILE,
        "cases": repr({c.name: (c.call.cls, c.call.args, c.call.kwargs) for c in ref.cases}),
        "shapes": repr(shapes),
        "shape_ids": repr(shape_ids),
        "contracts": repr(contracts),
        "parameters": repr(parameters) if parameters else "",
        "parameter_ids": repr([c.call.text for c in ref.counts]),
        "invalid": repr(invalid) if invalid else "",
        "invalid_ids": repr([p.call.text for p in ref.probes]),
        "model": repr(
            {
                "class": model.cls,
                "input": tuple(model.input),
                "output": tuple(model.output),
                "parameters": model.parameters,
            }
        ),
    }
    return format_code(environment().get_template("homework/test_assignment.py.jinja").render(**data))


def render_readme(variant: Variant, spec: HomeworkSpec) -> str:
    from ..render import environment

    ref = variant.reference
    assert ref is not None
    tasks = []
    for name in variant.classes:
        cases = [c for c in ref.cases if c.call.cls == name]
        tasks.append(
            {
                "name": name,
                "paper": _paper_lines(variant.entry_of(name)),
                "calls": [(c.call.text, ", ".join(c.layers)) for c in cases],
            }
        )
    entry = variant.manifest_entry()
    checks = checks_for(entry, spec.points)
    return (
        environment()
        .get_template("homework/README.md.jinja")
        .render(
            title=spec.title,
            student=variant.student,
            summary=variant.generated.plan.summary,
            tasks=tasks,
            shares=[s for s in shares(entry, spec.points) if s.points],
            total=sum(c.points for c in checks),
            checks=len(checks),
            test_file=TEST_FILE,
            self_check_file=SELF_CHECK_FILE,
        )
    )
