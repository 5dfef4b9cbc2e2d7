"""The command line: parse flags, call the library, print. Errors are one line.

Exit status: 0 success, 1 user error (bad module, constraint, taken directory, failed
smoke check, a file that cannot be written), 2 usage error (unknown flag, missing
argument), 130 interrupted (Ctrl-C), 143 and 129 terminated (SIGTERM, SIGHUP; the smoke
worker is stopped too), 141 output closed early (``plugscaffold list | head -1``).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import signal
import sys
from contextlib import nullcontext
from typing import Sequence

from . import __version__, _early, _interrupted_while_loading, blueprints
from .catalog import Catalog, load_catalog
from .choice import CHOICE_SYNTAX
from .errors import PlugscaffoldError, SpecError, one_line
from .options import MAX_TIMEOUT, Check, check_timeout, parse_size
from .placement import __doc__ as COMPOSITION_HELP
from .smoke import SmokeWorker
from .spec import PLACED_SLOT
from .deploy import DESCRIPTIONS as DEPLOY_DESCRIPTIONS, PATHS as DEPLOY_PATHS

def _examples() -> str:
    lines = [line for bp in blueprints.registry().values() for line in bp.examples]
    return "examples:\n" + "".join(f"  {line}\n" for line in lines)


def _position_help() -> str:
    return "".join(
        f"\npositions (--arch {bp.name}; default {','.join(bp.default_positions)}): "
        + "; ".join(f"{k}: {v}" for k, v in bp.positions.items())
        for bp in blueprints.registry().values()
        if bp.positions
    ) + "\n"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(catalog: Catalog) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="plugscaffold", description="Generate standalone, checked PyTorch models with plug-ins wired in."
    )
    parser.add_argument(
        "--version", action="version", version=f"plugscaffold {__version__} (catalog {catalog.version})"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    new = sub.add_parser(
        "new",
        help="generate a project with a checked model.py",
        description=f"Generate NAME/model.py and check it. Each slot takes {CHOICE_SYNTAX}.",
        epilog=_examples() + "\ncomposition (--attn):\n" + COMPOSITION_HELP.split("\n", 2)[2] + _position_help(),
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
        "torchrun), predict.py, export.py, data.py, images.py, metrics.py, tests, README.md, architecture.svg, "
        "requirements.txt",
    )  # fmt: skip

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
        help="replace plug-in classes whose catalog implementation changed (default: keep the code in your file)",
    )  # fmt: skip
    upd.add_argument(
        "--project", action="store_true", help="add the training project files (see 'new --project')"
    )
    upd.add_argument(
        "--keep-failing", action="store_true",
        help="write the merge even if the merged model.py (with your edits) fails its check (exit status 1)",
    )  # fmt: skip

    hw = sub.add_parser(
        "homework",
        help="generate per-student assignments from a spec file",
        description="Generate DIR/students/<id>/ (TODO stubs, tests, reference outputs) and DIR/solutions/<id>/ "
        "for every student of SPEC, reproducibly from its seed.",
        epilog="example:\n  plugscaffold homework examples/homework.yaml --out hw1\n"
        "  plugscaffold grade hw1 submissions/ --csv grades.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hw.add_argument("spec", help="the homework spec (YAML); see examples/homework.yaml")
    hw.add_argument("--out", required=True, metavar="DIR", help="the assignment directory to create")
    hw.add_argument(
        "--force", action="store_true", help="replace students/, solutions/ and homework.yml in DIR"
    )
    grader = sub.add_parser(
        "grade",
        help="grade a folder of submissions with hidden checks, or package the Gradescope autograder",
        description="Grade SUBMISSIONS/<id>/model.py of every student with checks on inputs drawn afresh, each "
        "submission isolated (own process group, time limit per check, memory cap, no network). Writes a CSV "
        "with every check and its points, and feedback/<id>.md and <id>.results.json (Gradescope's format).",
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
        "--feedback", metavar="DIR", help="feedback per student and results.json (default: feedback/ by the CSV)"
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
    grader.add_argument("--seed", type=int, default=None, help="the hidden inputs' seed (default: a fresh one)")
    grader.add_argument(
        "--similarity", type=float, default=0.9, metavar="R",
        help="flag pairs whose normalised code matches at least this much, 0 to 1 (default: 0.9)",
    )  # fmt: skip
    grader.add_argument(
        "--gradescope-zip", metavar="ZIP", help="write Gradescope's autograder zip for the assignment instead"
    )

    lister = sub.add_parser(
        "list", help="list the catalog's plug-ins", description="List the catalog's plug-ins."
    )
    lister.add_argument("slot", nargs="?", help=f"only this slot: {', '.join(catalog.slots)}")
    lister.add_argument(
        "--license", metavar="KIND",
        help="only modules whose reference code has this kind of licence: permissive, noncommercial, copyleft, unstated",
    )  # fmt: skip
    lister.add_argument(
        "--deploy", metavar="PATHS",
        help=f"only modules that pass these deployment paths ({', '.join(DEPLOY_PATHS)}; comma-separated)",
    )  # fmt: skip
    show = sub.add_parser(
        "show", help="show one plug-in in full", description="Show one plug-in: paper, contract, code."
    )
    show.add_argument("name", help="module name, or SLOT/NAME where a name is used in two slots")

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
        help="torch.compile backend: inductor generates code; eager only captures the graph (default: inductor)",
    )  # fmt: skip
    add_add_parsers(sub)
    add_ablate_parser(sub, catalog)
    return parser


def add_ablate_parser(sub: argparse._SubParsersAction, catalog: Catalog) -> None:
    """``ablate``: its options live in ablate/command.py."""
    from .ablate.command import EXAMPLES as ABLATE_EXAMPLES, add_arguments as add_ablate_arguments

    ablate = sub.add_parser(
        "ablate",
        help="an ablation study: every variant generated, checked, measured (and trained), tabulated",
        description="Generate every variant of a study (a YAML file, or factors given here), check and measure "
        "each in one torch process (parameters, FLOPs as FlopCounterMode counts, activation memory, CPU latency), "
        "optionally train each fairly, and write a manifest, CSV, Markdown and LaTeX tables and plots. "
        "Rerun the same command to resume.",
        epilog=ABLATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_ablate_arguments(ablate, catalog)


def add_add_parsers(sub: argparse._SubParsersAction) -> None:
    """``add`` (bring your own module) and ``remove``."""
    adder = sub.add_parser(
        "add",
        help="probe a class of yours and add it to your catalog as a plug-in",
        description="Probe CLASS of FILE.py (this runs the file's code, in a subprocess with a time limit, a "
        "memory cap and no network), show the contract it observed, and after you confirm, add it with a copy "
        "of the file to your catalog: per user ($XDG_CONFIG_HOME/plugscaffold/catalog.yaml, else "
        "~/.config/plugscaffold/catalog.yaml) or, with --project, ./.plugscaffold/catalog.yaml. It is then "
        "used like a built-in module: 'plugscaffold new NAME --SLOT MODULE'.",
        epilog="examples:\n  plugscaffold add my_attention.py:MyAttention --license MIT --code https://github.com/me/repo\n"
        "  plugscaffold add fusion.py:Fuse --slot skip --name myfuse --yes --license 'not stated' --code https://x.org/f\n"
        "  plugscaffold add --check all",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    adder.add_argument("target", nargs="?", metavar="FILE.py:CLASS", help="the class to probe and add")
    adder.add_argument("--slot", help="the slot it goes into (default: the one its contract fits)")
    adder.add_argument("--name", help="its catalog name, a lowercase identifier (default: the class name, lower case)")
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
    adder.add_argument("--timeout", type=float, default=120, metavar="S", help="seconds for the probe (default: 120)")
    adder.add_argument("--memory", type=int, default=4096, metavar="MIB", help="memory cap (default: 4096)")
    remover = sub.add_parser(
        "remove", help="remove a module added with 'plugscaffold add'", description="Remove a user module."
    )
    remover.add_argument("name", help="module name, or SLOT/NAME")


def add_model_options(parser: argparse.ArgumentParser, catalog: Catalog) -> None:
    """The options that define a model (defaults live in the Spec: unset options stay None)."""
    model = parser.add_argument_group("model")
    archs = blueprints.registry()
    model.add_argument(
        "--arch",
        help="architecture: " + "; ".join(f"{bp.name}: {bp.help}" for bp in archs.values())
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
        slots.add_argument(f"--{slot.name}", metavar="CHOICE", help=f"{slot.help}: {names} (default: {default})")


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


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: raised where the program is, so that everything on the way
    out runs (the smoke worker is killed, staged files are removed, a replacement of files
    is rolled back). A BaseException, like KeyboardInterrupt: no ``except Exception`` stops it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signum)


def _handle_signals() -> dict:
    """While a command runs, Ctrl-C raises KeyboardInterrupt and SIGTERM and SIGHUP raise
    Terminated (until then the package's early handler ends the process with one line).
    Returns the handlers it replaced, which main() puts back (only in the main thread)."""
    wanted = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: _terminate}
    if hasattr(signal, "SIGHUP"):
        wanted[signal.SIGHUP] = _terminate
    previous = {}
    for signum, handler in wanted.items():
        current = signal.getsignal(signum)
        if current in (signal.SIG_DFL, signal.default_int_handler, _interrupted_while_loading):
            try:
                signal.signal(signum, handler)
            except ValueError:  # not the main thread
                continue
            previous[signum] = current
    return previous


def main(argv: Sequence[str] | None = None) -> int:
    handlers = _handle_signals()
    stdout = sys.stdout
    sys.stdout = _Output(stdout)  # its failures are told apart from those of the files written
    try:
        catalog = load_catalog(user=True)  # with the modules of the user catalogs (plugscaffold add)
        args = build_parser(catalog).parse_args(argv)
        code = COMMANDS[args.command](args, catalog)
        sys.stdout.flush()  # a closed or full output fails here at the latest, inside the handlers
        return code
    except _OutputError as exc:
        _drop_stdout(stdout)
        if isinstance(
            exc.error, BrokenPipeError
        ):  # the reader went away (`list | head -1`): quietly, as Unix tools
            return 128 + signal.SIGPIPE
        print(f"plugscaffold: error: {one_line(_os_error(exc.error, 'write the output'))}", file=sys.stderr)
        return 1
    except PlugscaffoldError as exc:
        print(f"plugscaffold: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("plugscaffold: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Terminated as exc:  # a project is written whole or not at all (files.commit)
        print(f"plugscaffold: terminated by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except OSError as exc:  # a disk that is full, read-only or gone
        print(f"plugscaffold: error: {one_line(_os_error(exc, 'write'))}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, with a way to see more
        if os.environ.get("PLUGSCAFFOLD_DEBUG"):
            raise
        print(
            f"plugscaffold: internal error: {type(exc).__name__}: {one_line(str(exc), 300)} (set PLUGSCAFFOLD_DEBUG=1 for a traceback and please report it)",
            file=sys.stderr,
        )
        return 3
    finally:
        _early.discard()  # a worker started for a `new` that did not run
        sys.stdout = stdout
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


class _OutputError(Exception):
    """Standard output failed: its reader closed it (a pipe), or it is full."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Output:
    """sys.stdout while a command runs: the same stream, raising _OutputError when it fails."""

    def __init__(self, stream: object) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            raise _OutputError(exc) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            raise _OutputError(exc) from None

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


def _os_error(exc: OSError, action: str) -> str:
    from .files import os_error_message

    return os_error_message(exc, action)


def _drop_stdout(stream: object) -> None:
    """Point standard output at /dev/null, so that the flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (
        OSError,
        ValueError,
        AttributeError,
        io.UnsupportedOperation,
    ):  # not a real file (tests capture it)
        pass


def cmd_new(args: argparse.Namespace, catalog: Catalog) -> int:
    deploy_paths = None
    if args.check is not None:  # a wrong path name or a missing package stops before anything is made
        from .deploy import parse_paths, require_packages

        deploy_paths = parse_paths(args.check)
        require_packages(deploy_paths)
    # Started first (by the package's __init__ when run as `plugscaffold new`, else here), the
    # check's subprocess imports torch while this one imports the rest.
    with SmokeWorker(_early.take()) if not args.no_smoke else nullcontext() as worker:
        from .pipeline import generate
        from .report import format_report

        gen = generate(
            args.name,
            model_options(args, catalog),
            parent=args.dir,
            check=make_check(args),
            smoke=not args.no_smoke,
            write=not args.stdout,
            force=args.force,
            project=args.project and not args.stdout,
            catalog=catalog,
            worker=worker,
        )
    if args.stdout:
        sys.stdout.write(gen.source)
        print(format_report(gen, catalog), file=sys.stderr)
    else:
        print(format_report(gen, catalog))
    return _deploy_after_new(args, gen, deploy_paths) if deploy_paths else 0


def _deploy_after_new(args: argparse.Namespace, gen, paths: tuple[str, ...]) -> int:
    """``new --check``: the deployment table of the model just made; exit 1 if a path fails."""
    import tempfile
    from pathlib import Path

    from .deploy import check_generated, failed, format_checks

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.py" if args.stdout else Path(args.dir) / args.name / "model.py"
        if args.stdout:
            model.write_text(gen.source, encoding="utf-8")
        results = check_generated(model, gen.plan, gen.check, paths)
    print("\n" + format_checks(results), file=sys.stderr if args.stdout else sys.stdout)
    bad = failed(results)
    if bad:
        kept = "nothing was written" if args.stdout else f"{args.dir}/{args.name} was written"
        print(f"plugscaffold: error: the model fails deployment path(s) {', '.join(bad)} ({kept}; "
              "'plugscaffold list --deploy PATH' shows the modules that pass)", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def cmd_update(args: argparse.Namespace, catalog: Catalog) -> int:
    from .report import format_report
    from .update import UpdateConflict, update

    check_timeout(args.timeout)

    def waiting() -> None:
        print(f"plugscaffold: waiting for another command on {args.directory} to finish ...", file=sys.stderr)

    try:
        result = update(
            args.directory,
            model_options(args, catalog),
            # without --size/--batch a training project keeps the size it was made with
            check=make_check(args) if args.size is not None or args.batch is not None else None,
            timeout=args.timeout,
            smoke=not args.no_smoke,
            dry_run=args.dry_run,
            upgrade_modules=args.upgrade_modules,
            project=args.project,
            keep_failing=args.keep_failing,
            catalog=catalog,
            on_wait=waiting,
        )
    except UpdateConflict as exc:
        print(f"plugscaffold: {exc}", file=sys.stderr)
        return 1
    if args.dry_run:
        sys.stdout.write(result.diff or "no changes\n")
        problems = [f"would conflict in {', '.join(result.conflicts)}"] if result.conflicts else []
        problems += [f"the merged model.py would fail its check: {result.failing}"] if result.failing else []
        if problems:
            print(f"plugscaffold: dry run: {'; '.join(problems)}; nothing was written", file=sys.stderr)
            return 1
        return 0
    print(format_report(result.generated, catalog))
    if result.added:
        print(f"Added        {', '.join(result.added)}")
    if result.changed or not result.added:
        print(
            f"Updated      {', '.join(result.changed) or 'nothing changed'} (your edits kept by a three-way merge)"
        )
    for key in result.kept_modules:
        print(
            f"Note         the catalog's {key} changed since generation; your file keeps its copy (--upgrade-modules to replace it)"
        )
    for key in result.upgraded_modules:
        print(f"Upgraded     {key} to the catalog's current implementation")
    for note in result.notes:
        print(f"Base         {note}")
    return 0


def cmd_homework(args: argparse.Namespace, catalog: Catalog) -> int:
    from .homework import format_assignments, make_homework

    files = make_homework(args.spec, args.out, catalog, force=args.force)
    print(format_assignments(args.out))
    print(f"Wrote        {len(files)} files under {args.out}/ (students/ to hand out, solutions/ to keep)")
    return 0


def cmd_grade(args: argparse.Namespace, catalog: Catalog) -> int:
    from .homework import format_grades, grade
    from .homework.gradescope import write_autograder
    from .homework.runner import Limits

    if args.gradescope_zip:
        path = write_autograder(args.assignment, args.gradescope_zip)
        print(f"Wrote        {path}: upload it as the assignment's autograder on Gradescope")
        return 0
    if not args.submissions:
        raise SpecError("grade needs SUBMISSIONS (a folder with one sub-folder per student), or --gradescope-zip")
    check_timeout(args.timeout)
    check_timeout(args.check_timeout)
    if args.jobs is not None and args.jobs < 1:
        raise SpecError(f"--jobs must be at least 1, got {args.jobs}")
    if args.memory < 256 or not 0 < args.similarity <= 1:
        raise SpecError("--memory must be at least 256 (MiB) and --similarity between 0 and 1")
    limits = Limits(check_timeout=args.check_timeout, total_timeout=args.timeout, memory_mb=args.memory)
    report = grade(
        args.assignment, args.submissions, args.csv, limits=limits, jobs=args.jobs, seed=args.seed,
        feedback_dir=args.feedback, similarity=args.similarity,
    )  # fmt: skip
    print(format_grades(report.rows, args.csv, report.seed))
    for a, b, ratio in report.similar:
        print(f"Similar      {a} and {b}: {ratio:.0%} of the normalised code matches (a flag to look at, not a score)")
    return 0


def cmd_list(args: argparse.Namespace, catalog: Catalog) -> int:
    from .show import format_list

    catalog = catalog.with_license(args.license)
    print(format_list(catalog, args.slot, deploy=args.deploy))
    return 0


def cmd_check(args: argparse.Namespace, catalog: Catalog) -> int:
    from .deploy import check_project, failed, format_checks, parse_paths

    if args.batch < 1 or args.timeout <= 0:
        raise SpecError("--batch must be at least 1 and --timeout positive")
    check, results = check_project(
        args.directory, parse_paths(args.paths),
        size=parse_size(args.size) if args.size is not None else None,
        batch=args.batch, timeout=args.timeout, compile_backend=args.compile_backend, catalog=catalog,
    )  # fmt: skip
    print(f"{args.directory}/model.py: batch {check.batch}, {check.height}x{check.width} example input")
    print(format_checks(results))
    return 1 if failed(results) else 0


def cmd_show(args: argparse.Namespace, catalog: Catalog) -> int:
    from .show import format_show

    print(format_show(catalog, args.name))
    return 0


def cmd_add(args: argparse.Namespace, catalog: Catalog) -> int:
    from .probe import add_module, check_modules

    if args.memory < 256 or not (math.isfinite(args.timeout) and 0 < args.timeout <= MAX_TIMEOUT):
        raise SpecError("--memory must be at least 256 (MiB) and --timeout a positive number of seconds")
    if args.check:
        return check_modules(args, catalog)
    return add_module(args, catalog)


def cmd_remove(args: argparse.Namespace, catalog: Catalog) -> int:
    from .probe import origin_label, remove_entry

    entry, path = remove_entry(catalog, args.name)
    print(f"Removed      {entry.slot} {entry.name} ({origin_label(entry)}) from {path}")
    return 0


def cmd_ablate(args: argparse.Namespace, catalog: Catalog) -> int:
    from .ablate.command import run_command

    return run_command(args, catalog)


COMMANDS = {
    "ablate": cmd_ablate,
    "new": cmd_new,
    "add": cmd_add,
    "remove": cmd_remove,
    "update": cmd_update,
    "homework": cmd_homework,
    "grade": cmd_grade,
    "list": cmd_list,
    "show": cmd_show,
    "check": cmd_check,
}


if __name__ == "__main__":
    sys.exit(main())
