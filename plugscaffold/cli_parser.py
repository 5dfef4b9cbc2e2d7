"""The command line's parser: one function per subcommand, the options shared by ``new`` and
``update``, and the values read back from them (cli.py runs the commands).

Help texts are built from the catalog and the blueprints, so that a new module or
architecture shows in ``--help`` without an edit here.
"""

from __future__ import annotations

import argparse

from . import __version__, blueprints
from .catalog import Catalog
from .choice import CHOICE_SYNTAX
from .deploy import DESCRIPTIONS as DEPLOY_DESCRIPTIONS
from .deploy import PATHS as DEPLOY_PATHS
from .errors import SpecError
from .options import Check, check_timeout, parse_size
from .placement import __doc__ as COMPOSITION_HELP
from .spec import PLACED_SLOT


def _examples() -> str:
    lines = [line for bp in blueprints.registry().values() for line in bp.examples]
    return "examples:\n" + "".join(f"  {line}\n" for line in lines)


def _position_help() -> str:
    return (
        "".join(
            f"\npositions (--arch {bp.name}; default {','.join(bp.default_positions)}): "
            + "; ".join(f"{k}: {v}" for k, v in bp.positions.items())
            for bp in blueprints.registry().values()
            if bp.positions
        )
        + "\n"
    )


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(catalog: Catalog) -> argparse.ArgumentParser:
    """``plugscaffold``'s parser, its subcommands in the order ``--help`` lists them."""
    parser = _Parser(
        prog="plugscaffold", description="Generate standalone, checked PyTorch models with plug-ins wired in."
    )
    parser.add_argument(
        "--version", action="version", version=f"plugscaffold {__version__} (catalog {catalog.version})"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_new_parser(sub, catalog)
    add_update_parser(sub, catalog)
    add_homework_parser(sub)
    add_grade_parser(sub)
    add_list_parser(sub, catalog)
    add_show_parser(sub)
    add_check_parser(sub)
    add_add_parser(sub)
    add_remove_parser(sub)
    add_ablate_parser(sub, catalog)
    return parser


def add_new_parser(sub: argparse._SubParsersAction, catalog: Catalog) -> None:
    """``new``: generate a project."""
    new = sub.add_parser(
        "new",
        help="generate a project with a checked model.py",
        description=f"Generate NAME/model.py and check it. Each slot takes {CHOICE_SYNTAX}.",
        epilog=_examples()
        + "\ncomposition (--attn):\n"
        + COMPOSITION_HELP.split("\n", 2)[2]
        + _position_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    new.add_argument("name", help="project name: a directory created in --dir (letters, digits, _)")
    add_model_options(new, catalog)
    add_check_options(new)
    new.add_argument(
        "--check", metavar="PATHS",
        help="after writing, run deployment checks on model.py: comma-separated "
        f"{', '.join(DEPLOY_PATHS)} or all (see 'plugscaffold check')",
    )  # fmt: skip
    output = new.add_argument_group("output")
    output.add_argument("--dir", default=".", help="where to create the project directory (default: .)")
    output.add_argument(
        "--force", action="store_true", help="regenerate the files of an existing project directory"
    )
    output.add_argument("--stdout", action="store_true", help="print model.py to stdout and write nothing")
    output.add_argument(
        "--project", action="store_true",
        help="also write a training project for the architecture's task: config.py, train.py (DDP via "
        "torchrun), predict.py, export.py, data.py, images.py, metrics.py, tests, README.md, "
        "architecture.svg, "
        "requirements.txt",
    )  # fmt: skip


def add_update_parser(sub: argparse._SubParsersAction, catalog: Catalog) -> None:
    """``update``: regenerate a project, keeping the user's edits."""
    upd = sub.add_parser(
        "update",
        help="regenerate a project with changed options, keeping your edits",
        description="Regenerate DIR from its .plugscaffold.yml with the options given here changed; "
        "your edits are kept by a three-way merge (conflicts get <<<<<<< markers and exit status 1).",
        epilog="example:\n  plugscaffold update my_model --up bilinear --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    upd.add_argument("directory", help="a project made by 'plugscaffold new' (it has .plugscaffold.yml)")
    add_model_options(upd, catalog)
    add_check_options(upd)
    upd.add_argument(
        "--dry-run", action="store_true", help="print the diff the update would apply and write nothing"
    )
    upd.add_argument(
        "--upgrade-modules", action="store_true",
        help="replace plug-in classes whose catalog implementation changed "
        "(default: keep the code in your file)",
    )  # fmt: skip
    upd.add_argument(
        "--project", action="store_true", help="add the training project files (see 'new --project')"
    )
    upd.add_argument(
        "--keep-failing", action="store_true",
        help="write the merge even if the merged model.py (with your edits) fails its check (exit status 1)",
    )  # fmt: skip


def add_homework_parser(sub: argparse._SubParsersAction) -> None:
    """``homework``: per-student assignments from a spec."""
    hw = sub.add_parser(
        "homework",
        help="generate per-student assignments from a spec file",
        description="Generate DIR/students/<id>/ (TODO stubs, tests, reference outputs) and "
        "DIR/solutions/<id>/ for every student of SPEC, reproducibly from its seed.",
        epilog="example:\n  plugscaffold homework examples/homework.yaml --out hw1\n"
        "  plugscaffold grade hw1 submissions/ --csv grades.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hw.add_argument("spec", help="the homework spec (YAML); see examples/homework.yaml")
    hw.add_argument("--out", required=True, metavar="DIR", help="the assignment directory to create")
    hw.add_argument(
        "--force", action="store_true", help="replace students/, solutions/ and homework.yml in DIR"
    )


def add_grade_parser(sub: argparse._SubParsersAction) -> None:
    """``grade``: grade submissions, or package the Gradescope autograder."""
    grader = sub.add_parser(
        "grade",
        help="grade a folder of submissions with hidden checks, or package the Gradescope autograder",
        description="Grade SUBMISSIONS/<id>/model.py of every student with checks on inputs drawn afresh, "
        "each submission isolated (own process group, time limit per check, memory cap, no network). "
        "Writes a CSV with every check and its points, and feedback/<id>.md and <id>.results.json "
        "(Gradescope's format).",
        epilog="examples:\n  plugscaffold grade hw1 submissions/ --csv grades.csv\n"
        "  plugscaffold grade hw1 --gradescope-zip autograder.zip",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grader.add_argument("assignment", help="a directory made by 'plugscaffold homework'")
    grader.add_argument(
        "submissions", nargs="?", help="a folder with one sub-folder per student (or group) id"
    )
    grader.add_argument("--csv", default="grades.csv", help="where to write the grades (default: grades.csv)")
    grader.add_argument(
        "--feedback",
        metavar="DIR",
        help="feedback per student and results.json (default: feedback/ by the CSV)",
    )
    grader.add_argument(
        "--timeout", type=float, default=600, metavar="S", help="seconds per submission (default: 600)"
    )
    grader.add_argument(
        "--check-timeout", type=float, default=30, metavar="S", help="seconds per check (default: 30)"
    )
    grader.add_argument(
        "--memory", type=int, default=4096, metavar="MIB", help="memory cap per submission (default: 4096)"
    )
    grader.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="submissions graded at once (default: 2)"
    )
    grader.add_argument(
        "--seed", type=int, default=None, help="the hidden inputs' seed (default: a fresh one)"
    )
    grader.add_argument(
        "--similarity", type=float, default=0.9, metavar="R",
        help="flag pairs whose normalised code matches at least this much, 0 to 1 (default: 0.9)",
    )  # fmt: skip
    grader.add_argument(
        "--gradescope-zip", metavar="ZIP", help="write Gradescope's autograder zip for the assignment instead"
    )


def add_list_parser(sub: argparse._SubParsersAction, catalog: Catalog) -> None:
    """``list``: the catalog's plug-ins."""
    lister = sub.add_parser(
        "list", help="list the catalog's plug-ins", description="List the catalog's plug-ins."
    )
    lister.add_argument("slot", nargs="?", help=f"only this slot: {', '.join(catalog.slots)}")
    lister.add_argument(
        "--license", metavar="KIND",
        help="only modules whose reference code has this kind of licence: permissive, noncommercial, "
        "copyleft, unstated",
    )  # fmt: skip
    lister.add_argument(
        "--deploy", metavar="PATHS",
        help=f"only modules that pass these deployment paths ({', '.join(DEPLOY_PATHS)}; comma-separated)",
    )  # fmt: skip


def add_show_parser(sub: argparse._SubParsersAction) -> None:
    """``show``: one plug-in in full."""
    show = sub.add_parser(
        "show", help="show one plug-in in full", description="Show one plug-in: paper, contract, code."
    )
    show.add_argument("name", help="module name, or SLOT/NAME where a name is used in two slots")


def add_check_parser(sub: argparse._SubParsersAction) -> None:
    """``check``: the deployment paths of a project's model.py."""
    checker = sub.add_parser(
        "check",
        help="check that a project's model.py deploys (TorchScript, torch.export, torch.compile, ONNX)",
        description="Run the deployment paths on DIR/model.py in a subprocess and compare each with eager "
        "output (|out - eager| <= 1e-4 + 1e-4 * |eager|) on the example input and on a second one with "
        "another batch and size. Exit status 1 if a path fails.",
        epilog="paths:\n" + "\n".join(f"  {p:8s} {DEPLOY_DESCRIPTIONS[p]}" for p in DEPLOY_PATHS)
        + "\n\nexample:\n  plugscaffold check my_model --paths onnx,export",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    checker.add_argument("directory", help="a project made by 'plugscaffold new' (it has .plugscaffold.yml)")
    checker.add_argument(
        "--paths", default="all", metavar="PATHS", help="comma-separated paths, or all (default: all)"
    )
    checker.add_argument("--size", metavar="HxW", help="input size of the example (default: 64)")
    checker.add_argument(
        "--batch", type=int, default=2, metavar="N", help="batch of the example (default: 2)"
    )
    checker.add_argument(
        "--timeout",
        type=float,
        default=600,
        metavar="S",
        help="seconds before the check is stopped (default: 600)",
    )
    checker.add_argument(
        "--compile-backend", default="inductor", choices=("inductor", "eager"),
        help="torch.compile backend: inductor generates code; eager only captures the graph "
        "(default: inductor)",
    )  # fmt: skip


def add_add_parser(sub: argparse._SubParsersAction) -> None:
    """``add``: bring your own module."""
    adder = sub.add_parser(
        "add",
        help="probe a class of yours and add it to your catalog as a plug-in",
        description="Probe CLASS of FILE.py (this runs the file's code, in a subprocess with a time limit, a "
        "memory cap and no network), show the contract it observed, and after you confirm, add it with a "
        "copy of the file to your catalog: per user ($XDG_CONFIG_HOME/plugscaffold/catalog.yaml, else "
        "~/.config/plugscaffold/catalog.yaml) or, with --project, ./.plugscaffold/catalog.yaml. It is then "
        "used like a built-in module: 'plugscaffold new NAME --SLOT MODULE'.",
        epilog="examples:\n  plugscaffold add my_attention.py:MyAttention --license MIT --code https://github.com/me/repo\n"
        "  plugscaffold add fusion.py:Fuse --slot skip --name myfuse --yes --license 'not stated' --code https://x.org/f\n"
        "  plugscaffold add --check all",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    adder.add_argument("target", nargs="?", metavar="FILE.py:CLASS", help="the class to probe and add")
    adder.add_argument("--slot", help="the slot it goes into (default: the one its contract fits)")
    adder.add_argument(
        "--name", help="its catalog name, a lowercase identifier (default: the class name, lower case)"
    )
    adder.add_argument("--title", help="a one-line title (default: the class docstring's first line)")
    adder.add_argument("--paper", help="'TITLE, VENUE YEAR' of the paper (then --code is the authors' code)")
    adder.add_argument("--code", metavar="URL", help="https:// address of the code the file comes from")
    adder.add_argument("--license", help="licence of that code, e.g. MIT, Apache-2.0, GPL-3.0, 'not stated'")
    adder.add_argument("--project", action="store_true", help="add to ./.plugscaffold/catalog.yaml instead")
    adder.add_argument("--yes", action="store_true", help="add without asking for confirmation")
    adder.add_argument(
        "--check", metavar="NAME",
        help="instead of adding: re-probe catalog module NAME (or all) and fail where its declared contract "
        "and its behaviour disagree",
    )  # fmt: skip
    adder.add_argument(
        "--timeout", type=float, default=120, metavar="S", help="seconds for the probe (default: 120)"
    )
    adder.add_argument("--memory", type=int, default=4096, metavar="MIB", help="memory cap (default: 4096)")


def add_remove_parser(sub: argparse._SubParsersAction) -> None:
    """``remove``: a module added with ``add``."""
    remover = sub.add_parser(
        "remove", help="remove a module added with 'plugscaffold add'", description="Remove a user module."
    )
    remover.add_argument("name", help="module name, or SLOT/NAME")


def add_ablate_parser(sub: argparse._SubParsersAction, catalog: Catalog) -> None:
    """``ablate``: its options live in ablate/command.py."""
    from .ablate.command import EXAMPLES as ABLATE_EXAMPLES
    from .ablate.command import add_arguments as add_ablate_arguments

    ablate = sub.add_parser(
        "ablate",
        help="an ablation study: every variant generated, checked, measured (and trained), tabulated",
        description="Generate every variant of a study (a YAML file, or factors given here), check and "
        "measure each in one torch process (parameters, FLOPs as FlopCounterMode counts, activation memory, "
        "CPU latency), optionally train each fairly, and write a manifest, CSV, Markdown and LaTeX tables "
        "and plots. Rerun the same command to resume.",
        epilog=ABLATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_ablate_arguments(ablate, catalog)


def add_model_options(parser: argparse.ArgumentParser, catalog: Catalog) -> None:
    """The options that define a model (defaults live in the Spec: unset options stay None)."""
    model = parser.add_argument_group("model")
    archs = blueprints.registry()
    model.add_argument(
        "--arch",
        help="architecture: "
        + "; ".join(f"{bp.name}: {bp.help}" for bp in archs.values())
        + f" (default: {blueprints.default_arch()})",
    )
    for name, takers in blueprints.all_options().items():
        kinds = {option.kind for _, option in takers}
        parts = []
        for bp, option in takers:
            default = "" if isinstance(option.default, blueprints.ByOption) else f", default {option.default}"
            allowed = option.allowed()
            listed = f" ({', '.join(map(str, allowed))})" if allowed and len(allowed) <= 8 else ""
            parts.append(f"{bp.name}: {option.help}{listed}{default}")
        model.add_argument(
            takers[0][1].flag,
            dest=name,
            type=int if kinds == {int} else str,
            metavar="N" if kinds == {int} else "NAME",
            help="; ".join(parts),
        )
    slots = parser.add_argument_group("plug-in slots (see 'plugscaffold list SLOT')")
    for slot in catalog.slots.values():
        names = ", ".join(catalog.choices(slot.name))
        if slot.name == PLACED_SLOT:
            slots.add_argument(
                f"--{slot.name}", metavar="EXPR[@POS,...]", action="append",
                help=f"attention modules ({names}) composed and placed: see 'composition' below; repeatable",
            )  # fmt: skip
            continue
        overrides = [
            f"{bp.name}: {_default_text(bp.slot_defaults[slot.name])}"
            for bp in blueprints.registry().values()
            if slot.name in bp.slot_defaults
        ]
        default = "; ".join([slot.default, *overrides]) if overrides else slot.default
        slots.add_argument(
            f"--{slot.name}", metavar="CHOICE", help=f"{slot.help}: {names} (default: {default})"
        )


def _default_text(default: object) -> str:
    if isinstance(default, blueprints.ByOption):
        table = ", ".join(f"{name} at {value}" for value, name in default.table.items())
        table += f", else {default.otherwise}" if default.otherwise else ""
        return f"by --{default.option.replace('_', '-')}: {table}"
    return str(default)


def add_check_options(parser: argparse.ArgumentParser) -> None:
    checking = parser.add_argument_group("smoke check")
    checking.add_argument(
        "--size",
        metavar="HxW",
        help="input size of the check, e.g. 256 or 96x128 (default: the smallest that exercises every stage, "
        "e.g. 32x48 at depth 4; 256 with --project)",
    )
    checking.add_argument("--batch", type=int, metavar="N", help="batch size of the check (default: 2)")
    checking.add_argument(
        "--timeout",
        type=float,
        default=600,
        metavar="S",
        help="seconds before the check is stopped (default: 600)",
    )
    checking.add_argument(
        "--no-smoke", action="store_true", help="skip the check (model.py then carries no parameter count)"
    )


def model_options(args: argparse.Namespace, catalog: Catalog) -> dict:
    keys = (*blueprints.option_names(), *catalog.slots)
    return {key: getattr(args, key) for key in keys if getattr(args, key) is not None}


def make_check(args: argparse.Namespace) -> Check:
    height, width = parse_size(args.size) if args.size is not None else (Check.height, Check.width)
    batch = args.batch if args.batch is not None else Check.batch
    if batch < 1:
        raise SpecError(f"--batch must be at least 1, got {batch}")
    check_timeout(args.timeout)
    return Check(height, width, batch, args.timeout)
