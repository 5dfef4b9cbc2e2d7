"""Writing projects: target checks, atomic and exclusive writes, all-or-nothing commits.

Every file is first written into a staging directory next to the target (a full disk
fails there, before anything of the user's is touched). A new project directory then
appears in one rename that refuses to replace anything (so two commands racing for one
name cannot both succeed, and a directory that appeared meanwhile is never clobbered).
An existing project (``--force``, ``update``) has its files replaced one by one under a
per-project lock, with the old files kept aside until every replacement succeeded: when
one fails, the ones already replaced are put back. Nothing is ever written through a
symbolic link out of the target.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping

from .errors import TargetError

try:  # POSIX advisory locks; without them (Windows) concurrent commands are not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

#: What to do about an OSError, by errno, for the one-line message.
_ADVICE = {
    errno.ENOSPC: "free some disk space and run it again",
    errno.EDQUOT: "free some space within your disk quota and run it again",
    errno.EROFS: "choose another --dir, or make it writable",
    errno.EACCES: "check the permissions of the directory and its files",
    errno.EPERM: "check the permissions (an immutable file or directory? see lsattr)",
    errno.ENAMETOOLONG: "use a shorter project name or --dir",
    errno.ENOTDIR: "a path component is a file, not a directory",
    errno.EISDIR: "a directory is where a file should be; move it away",
    errno.EPIPE: "the output was closed",
}


def os_error_message(exc: OSError, action: str = "write", path: object = None) -> str:
    """One line for an OSError: what failed (``path``, else the file the error names), why, what to do."""
    where = f" {path or exc.filename}" if path or exc.filename else ""
    reason = exc.strerror or str(exc)
    advice = _ADVICE.get(exc.errno or 0)
    return f"cannot {action}{where}: {reason}" + (f"; {advice}" if advice else "")


_APPEARED = (
    "{target} already exists (it appeared while the model was generated and checked); nothing was written; "
    "pass --force to regenerate its files"
)


def check_target(parent: Path, name: str, force: bool) -> Path:
    """The project directory ``parent/name``; refuse a taken path unless ``force``.

    A symbolic link (dangling or not) is refused even with ``force``: following it would
    write outside ``parent``. The commit checks again, atomically (see :func:`commit`).
    """
    if parent.exists() and not parent.is_dir():
        raise TargetError(f"output directory {parent} is a file, not a directory; pass another --dir")
    if not parent.is_dir():
        raise TargetError(f"output directory {parent} does not exist; create it or pass another --dir")
    target = parent.resolve() / name
    if target.is_symlink():
        raise TargetError(
            f"{target} is a symbolic link (to {os.readlink(target)}); "
            "plugscaffold never writes through a link out of --dir; "
            "remove the link or choose another project name"
        )
    if target.exists() and not target.is_dir():
        raise TargetError(f"{target} exists and is not a directory; choose another project name")
    if target.exists() and not force:
        raise TargetError(f"{target} already exists; pass --force to regenerate its files (others are kept)")
    return target


@contextmanager
def staging(parent: Path | None) -> Iterator[Path]:
    """A temporary directory (next to the target when ``parent`` is given), always removed."""
    try:
        stage = Path(tempfile.mkdtemp(prefix=".plugscaffold-", dir=parent))
    except OSError as exc:
        raise TargetError(
            os_error_message(exc, "write in", parent or tempfile.gettempdir()) + "; nothing was written"
        ) from None
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``; the one place project files are written."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path next to ``target`` (same suffix) for the caller to write one file to.
    When the block ends it replaces ``target`` in one rename, so a reader sees the old file or
    the whole new one; when the block raises it is removed and ``target`` is left as it was.
    For several files of a project, :func:`commit`."""
    # a fresh name, not a mkstemp file: the writer creates it with the usual permissions
    temporary = target.with_name(f".{target.stem}-{secrets.token_hex(6)}.tmp{target.suffix}")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def commit(stage: Path, target: Path, files: Mapping[str, str], *, replace: bool = True) -> list[Path]:
    """Write ``files`` into ``stage``, then move them into ``target``: all of them, or none.

    A missing ``target`` is created in one rename that never replaces anything; if it
    appeared meanwhile (another command, the user), that is an error unless ``replace``
    (``--force``), which replaces the generated files of an existing ``target`` under
    its lock and keeps every other file.
    """
    for relative, text in files.items():
        path = stage / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text(path, text)
        except OSError as exc:
            raise TargetError(
                os_error_message(exc, path=target / relative) + "; nothing was written"
            ) from None
    if not os.path.lexists(target):
        fresh = stage / ".new"
        fresh.mkdir()
        for relative in files:
            (fresh / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / relative, fresh / relative)
        try:
            rename_noreplace(fresh, target)
            return [target / relative for relative in files]
        except FileExistsError:
            if not replace:
                raise TargetError(_APPEARED.format(target=target)) from None
            for relative in files:  # back into the stage for replace_files
                os.replace(fresh / relative, stage / relative)
        except OSError as exc:
            raise TargetError(os_error_message(exc, "create", target) + "; nothing was written") from None
    elif not replace:  # it was free when generation started (check_target)
        raise TargetError(_APPEARED.format(target=target))
    with project_lock(target):
        replace_files(stage, target, list(files))
    return [target / relative for relative in files]


def replace_files(stage: Path, target: Path, relatives: list[str]) -> None:
    """Move ``stage/REL`` onto ``target/REL`` for every REL: all or none (the old ones restored).

    The caller holds the project's lock (:func:`project_lock`).
    """
    if os.path.islink(target) or not target.is_dir():
        raise TargetError(f"{target} is not a directory (or is a symbolic link); nothing was changed")
    for relative in relatives:
        dest = target / relative
        if dest.is_dir() and not dest.is_symlink():
            raise TargetError(
                f"{dest} is a directory where plugscaffold writes a file; move it away and run again "
                "(nothing was changed)"
            )
        inside = dest.parent
        while inside != target:
            if inside.is_symlink():
                raise TargetError(f"{inside} is a symbolic link; plugscaffold never writes through it")
            inside = inside.parent
    saved = stage / ".old"
    saved.mkdir(exist_ok=True)
    done: list[tuple[Path, Path | None]] = []
    dest = target
    try:
        for relative in relatives:
            dest = target / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            keep = None
            if os.path.lexists(dest):
                keep = saved / relative.replace("/", "__")
                try:
                    os.link(dest, keep, follow_symlinks=False)
                except OSError:
                    shutil.copy2(dest, keep, follow_symlinks=False)
            os.replace(stage / relative, dest)
            done.append((dest, keep))
    except OSError as exc:
        what = "nothing was changed" if _restore(done) else _keep_aside(saved, target)
        raise TargetError(f"{os_error_message(exc, path=dest)}; {what}") from None
    except BaseException:  # Ctrl-C or a signal between two replacements: put the old files back
        _restore(done)
        raise


def replace_parts(stage: Path, target: Path, parts: list[str]) -> None:
    """Move each top-level ``stage/PART`` (a file or a folder) onto ``target/PART``: all or none.

    The old parts are renamed into a folder in ``stage`` first (removed with the stage) and put
    back if any move fails or the process is interrupted, so ``target`` never holds half of each."""
    aside = Path(tempfile.mkdtemp(prefix=".old-", dir=stage))
    set_aside: list[str] = []
    moved_in: list[str] = []
    try:
        for part in parts:
            if os.path.lexists(target / part):
                os.replace(target / part, aside / part)
                set_aside.append(part)
        for part in parts:
            os.replace(stage / part, target / part)
            moved_in.append(part)
    except BaseException:
        for part in reversed(moved_in):
            os.replace(target / part, stage / part)
        for part in reversed(set_aside):
            os.replace(aside / part, target / part)
        raise


def _keep_aside(saved: Path, target: Path) -> str:
    """Move the old files out of the staging directory (which is removed) when they could
    not all be put back; say where they are."""
    try:
        kept = Path(tempfile.mkdtemp(prefix=".plugscaffold-old-", dir=target))
        os.replace(saved, kept / "files")
        return f"some old files could not be put back; they are in {kept / 'files'}"
    except OSError:
        return f"some old files could not be put back (the disk refused every write in {target})"


def _restore(done: list[tuple[Path, Path | None]]) -> bool:
    """Undo replacements; whether every one was undone."""
    ok = True
    for dest, keep in reversed(done):
        try:
            if keep is None:
                os.unlink(dest)
            else:
                os.replace(keep, dest)
        except OSError:
            ok = False
    return ok


def rename_noreplace(source: Path, destination: Path) -> None:
    """Rename ``source`` to ``destination``, raising FileExistsError if it exists (atomically)."""
    if _renameat2 is not None:
        if (
            _renameat2(-100, os.fsencode(source), -100, os.fsencode(destination), 1) == 0
        ):  # AT_FDCWD, NOREPLACE
            return
        code = _ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), str(destination))
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(destination))
    # Portable: claiming the name with mkdir is atomic; a rename onto one's own empty
    # directory then replaces it (and fails if anyone wrote into it meanwhile).
    os.mkdir(destination)
    try:
        os.rename(source, destination)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise FileExistsError(exc.errno, exc.strerror, str(destination)) from None
        os.rmdir(destination)
        raise


def _load_renameat2():
    if not sys.platform.startswith("linux"):
        return None, None
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None, None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function, ctypes


_renameat2, _ctypes = _load_renameat2()


@contextmanager
def project_lock(directory: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on a project directory (re-entrant within a process).

    Another command that holds it makes this one wait (``on_wait`` is called once, e.g. to
    say so). The lock is an advisory ``flock`` on the directory itself: no lock file is
    left behind, and a crashed command releases it.
    """
    key = os.path.realpath(directory)
    if fcntl is None or key in _HELD:
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise TargetError(os_error_message(exc, "open")) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            while True:  # a polling wait stays interruptible by Ctrl-C
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(0.1)
        except OSError:  # a file system without locks (some network mounts): go on unlocked
            pass
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
    finally:
        os.close(fd)


_HELD: set[str] = set()


@contextmanager
def existing_project_lock(directory: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """:func:`project_lock` on ``directory`` when it is a directory now (``new --force`` takes
    the project it replaces before it generates, so that it waits, and says so, while another
    command holds it); nothing when there is no directory yet, or a link that
    :func:`check_target` refuses."""
    if os.path.isdir(directory) and not os.path.islink(directory):
        with project_lock(directory, on_wait):
            yield
    else:
        yield
