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

from . import _early, _interrupted_while_loading
from .catalog import Catalog, load_catalog
from .cli_parser import build_parser, make_check, model_options
from .errors import PlugscaffoldError, SpecError, one_line
from .options import MAX_TIMEOUT, check_timeout, parse_size
from .smoke import SmokeWorker


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
            f"plugscaffold: internal error: {type(exc).__name__}: {one_line(str(exc), 300)} "
            "(set PLUGSCAFFOLD_DEBUG=1 for a traceback and please report it)",
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
    with SmokeWorker(_early.take()) if not args.no_smoke else nullcontext() as worker, _force_lock(args):
        from .options import Output
        from .pipeline import generate
        from .report import format_report

        if args.stdout:  # --stdout writes nothing, so --project and --force do not apply
            output = Output.RENDER
        else:
            output = Output.WRITE_PROJECT if args.project else Output.WRITE
        gen = generate(
            args.name,
            model_options(args, catalog),
            output=output,
            parent=args.dir,
            replace=args.force and output.writes,
            check=make_check(args),
            smoke=not args.no_smoke,
            catalog=catalog,
            worker=worker,
        )
    if args.stdout:
        sys.stdout.write(gen.source)
        print(format_report(gen, catalog), file=sys.stderr)
    else:
        print(format_report(gen, catalog))
    return _deploy_after_new(args, gen, deploy_paths) if deploy_paths else 0


def _force_lock(args: argparse.Namespace):
    """``new --force``: the lock of the project it replaces, taken before generating, so that
    it waits (and says so) while another command holds the project."""
    if not args.force or args.stdout:
        return nullcontext()
    from pathlib import Path

    from .files import existing_project_lock

    target = os.path.normpath(os.path.join(args.dir, args.name))
    return existing_project_lock(Path(target), _waiting(target))


def _waiting(directory: object):
    """What a command says when another holds the project ``directory`` (then it waits)."""

    def say() -> None:
        print(f"plugscaffold: waiting for another command on {directory} to finish ...", file=sys.stderr)

    return say


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
            on_wait=_waiting(args.directory),
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
            f"Updated      {', '.join(result.changed) or 'nothing changed'} "
            "(your edits kept by a three-way merge)"
        )
    for key in result.kept_modules:
        print(
            f"Note         the catalog's {key} changed since generation; your file keeps its copy "
            "(--upgrade-modules to replace it)"
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
        raise SpecError(
            "grade needs SUBMISSIONS (a folder with one sub-folder per student), or --gradescope-zip"
        )
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
        print(
            f"Similar      {a} and {b}: {ratio:.0%} of the normalised code matches "
            "(a flag to look at, not a score)"
        )
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
