"""The fault corpus of issue 16, in fast form: one test per class of fault.

Every fault ends in one line (never "internal error", never a traceback), with the right
exit status, and leaves nothing partial: the tree is what it was before. Most run the CLI
in-process with --no-smoke; the ones where the real process matters (pipes, /dev/full,
signals, a lock held by another process) start it. Disk-full and read-only faults run on
a real small tmpfs when the test may mount one (root), and always with a patched write.
"""

from __future__ import annotations

import errno
import io
import os
import select
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from conftest import tree

from plugscaffold import files

SMALL = ["--width", "8", "--depth", "2", "--no-smoke"]
CLI = [sys.executable, "-m", "plugscaffold"]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for directories)."""
    return {p: (None if (root / p).is_dir() else (root / p).read_bytes()) for p in tree(root)}


def one_line_error(result, *words: str) -> str:
    """The result is exit 1 with one 'plugscaffold: error:' line that contains ``words``."""
    assert result.code == 1, (result.code, result.err)
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("plugscaffold: error: "), result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def start(args: list[str], cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *args], cwd=cwd, text=True, **kwargs)


# --- closed pipes and full outputs ------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["list"], ["show", "se"], ["new", "m", *SMALL, "--stdout"], ["new", "m", *SMALL]],
    ids=["list", "show", "new-stdout", "new"],
)
def test_a_closed_pipe_ends_quietly_with_0_or_141(args, tmp_path):
    # `plugscaffold list | head -1`, `... | true`: the reader is gone before the first write
    read, write = os.pipe()
    os.close(read)
    proc = start(args, tmp_path, stdout=write, stderr=subprocess.PIPE)
    os.close(write)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 141), err
    assert err == "", err  # quiet: no "internal error", no "Exception ignored", no traceback


def test_list_piped_into_head_exits_quietly(tmp_path):
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {' '.join(CLI)} list | head -1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode in (0, 141), proc.stderr
    assert proc.stdout.startswith("name") and len(proc.stdout.splitlines()) == 1
    assert proc.stderr == ""


def test_a_broken_pipe_in_process_is_141_without_internal_error(run_cli, monkeypatch):
    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    result = run_cli("list")
    assert result.code == 141 and "error" not in result.err


def test_a_disk_error_is_not_mistaken_for_a_closed_or_full_output(run_cli, tmp_path, monkeypatch):
    from plugscaffold import pipeline

    def full(*args, **kwargs):  # e.g. the check's staged model.py on a full disk: no file name
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pipeline, "render_model", full)
    line = one_line_error(run_cli("new", "m", *SMALL), "cannot write: No space left on device")
    assert "output" not in line and tree(tmp_path) == []


def test_stdout_to_dev_full_is_one_line(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        proc = start(["new", "m", *SMALL, "--stdout"], tmp_path, stdout=full, stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err.splitlines() == [
        "plugscaffold: error: cannot write the output: No space left on device; "
        "free some disk space and run it again"
    ]
    assert tree(tmp_path) == []


# --- full disks and read-only targets ---------------------------------------------------


def _project(run_cli, where: Path, name: str = "m") -> Path:
    assert run_cli("new", name, *SMALL, "--dir", str(where)).code == 0
    (where / name / "model.py").write_text((where / name / "model.py").read_text() + "# my edit\n")
    return where / name


COMMANDS = {
    "new": lambda d: ["new", "n", *SMALL, "--dir", str(d)],
    "new --project": lambda d: ["new", "n", *SMALL, "--project", "--dir", str(d)],
    "new --force": lambda d: ["new", "m", *SMALL, "--width", "16", "--force", "--dir", str(d)],
    "update": lambda d: ["update", str(d / "m"), "--no-smoke", "--width", "16"],
}


@contextmanager
def tmpfs(path: Path, size: str = "512k"):
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_disk_on_a_real_tmpfs_is_one_line_and_changes_nothing(command, run_cli, tmp_path):
    with tmpfs(tmp_path / "disk") as disk:
        _project(run_cli, disk)
        with open(disk / "filler", "wb", buffering=0) as filler:  # fill the disk to the last byte
            with pytest.raises(OSError) as full:
                while True:
                    filler.write(b"x" * 4096)
            assert full.value.errno == errno.ENOSPC
        before = snapshot(disk)
        one_line_error(run_cli(*COMMANDS[command](disk)), "No space left on device", "free some disk space")
        assert snapshot(disk) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_a_write_that_fills_the_disk_is_one_line_and_changes_nothing(command, run_cli, tmp_path, monkeypatch):
    _project(run_cli, tmp_path)
    before = snapshot(tmp_path)

    class FillingFile(io.TextIOWrapper):
        """Writes half of what it is given, then the disk is full."""

        def write(self, text):
            super().write(text[: len(text) // 2])
            self.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def filling_open(path, mode="r", encoding=None):
        assert "w" in mode
        return FillingFile(open(path, "wb"), encoding=encoding)

    monkeypatch.setattr(files, "open", filling_open, raising=False)
    line = one_line_error(run_cli(*COMMANDS[command](tmp_path)), "No space left on device")
    assert "nothing was written" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["new", "new --force", "update"])
def test_a_read_only_file_system_is_one_line_and_changes_nothing(command, run_cli, tmp_path):
    with tmpfs(tmp_path / "disk") as disk:
        _project(run_cli, disk)
        before = snapshot(disk)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        one_line_error(run_cli(*COMMANDS[command](disk)), "Read-only file system", "choose another --dir")
        assert snapshot(disk) == before


@pytest.mark.parametrize("immutable", ["project", "answers file"])
def test_an_immutable_project_or_file_is_one_line_and_changes_nothing(immutable, run_cli, tmp_path):
    with tmpfs(tmp_path / "disk") as disk:
        project = _project(run_cli, disk)
        locked = project if immutable == "project" else project / ".plugscaffold.yml"
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not supported here")
        try:
            before = snapshot(disk)
            for command in ("new --force", "update"):
                one_line_error(run_cli(*COMMANDS[command](disk)), "Operation not permitted", "immutable")
                assert snapshot(disk) == before, command
        finally:
            subprocess.run(["chattr", "-i", str(locked)], check=True)


def test_force_is_all_or_nothing_when_a_later_file_cannot_be_replaced(run_cli, tmp_path, monkeypatch):
    project = _project(run_cli, tmp_path)
    before = snapshot(tmp_path)
    real_replace = os.replace

    def replace(source, destination):
        if Path(destination).name == ".plugscaffold.yml":  # model.py was replaced just before
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(destination))
        return real_replace(source, destination)

    monkeypatch.setattr(files.os, "replace", replace)
    for command in ("new --force", "update"):
        line = one_line_error(run_cli(*COMMANDS[command](tmp_path)), "Read-only file system")
        assert "nothing was changed" in line
        assert snapshot(tmp_path) == before, command
    assert (project / "model.py").read_text().endswith("# my edit\n")


def test_ctrl_c_between_two_replacements_puts_the_old_files_back(run_cli, tmp_path, monkeypatch):
    _project(run_cli, tmp_path)
    before = snapshot(tmp_path)
    real_replace = os.replace

    def replace(source, destination):
        if Path(destination).name == ".plugscaffold.yml":
            raise KeyboardInterrupt
        return real_replace(source, destination)

    monkeypatch.setattr(files.os, "replace", replace)
    result = run_cli(*COMMANDS["update"](tmp_path))
    assert result.code == 130 and result.err == "plugscaffold: interrupted; nothing was written\n"
    assert snapshot(tmp_path) == before


# --- targets that are not what they seem ------------------------------------------------


def test_a_symlink_out_of_dir_is_refused_even_with_force(run_cli, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.py").write_text("# not yours to replace\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "m").symlink_to("../elsewhere")
    one_line_error(run_cli("new", "m", *SMALL, "--force", cwd=work), "is a symbolic link", "remove the link")
    assert (elsewhere / "model.py").read_text() == "# not yours to replace\n"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["model.py"]


def test_a_dangling_symlink_where_the_project_goes_is_one_line(run_cli, tmp_path):
    (tmp_path / "m").symlink_to(tmp_path / "gone" / "m")
    one_line_error(run_cli("new", "m", *SMALL), "is a symbolic link")
    assert not (tmp_path / "gone").exists() and (tmp_path / "m").is_symlink()


def test_an_answers_path_that_is_a_directory_is_one_line(run_cli, tmp_path):
    project = _project(run_cli, tmp_path)
    (project / ".plugscaffold.yml").unlink()
    (project / ".plugscaffold.yml").mkdir()
    before = snapshot(tmp_path)
    one_line_error(run_cli(*COMMANDS["new --force"](tmp_path)), ".plugscaffold.yml is a directory")
    one_line_error(run_cli(*COMMANDS["update"](tmp_path)), ".plugscaffold.yml is a directory")
    assert snapshot(tmp_path) == before


def test_a_project_that_appears_during_the_check_is_never_replaced(run_cli, tmp_path, monkeypatch):
    # `new m` checked that m/ was free, then m/ appeared (the user, or a second `new m`)
    from plugscaffold import pipeline

    real_render = pipeline.render_model

    def render_while_the_user_writes(*args, **kwargs):
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "model.py").write_text("# the user's\n")
        return real_render(*args, **kwargs)

    monkeypatch.setattr(pipeline, "render_model", render_while_the_user_writes)
    one_line_error(run_cli("new", "m", *SMALL), "already exists", "appeared while")
    assert snapshot(tmp_path) == {"m": None, "m/model.py": b"# the user's\n"}


def test_an_empty_directory_that_appears_is_not_replaced_either(tmp_path):
    # os.rename would silently replace an empty directory; the commit must not
    (tmp_path / "staged").mkdir()
    (tmp_path / "staged" / "model.py").write_text("new\n")
    (tmp_path / "m").mkdir()
    with pytest.raises(FileExistsError):
        files.rename_noreplace(tmp_path / "staged", tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []


# --- bad values -------------------------------------------------------------------------

BAD_VALUES = [
    (["new", "x" * 300, *SMALL], ["is 300 characters long", "at most 100"]),
    (["new", "a\nb", *SMALL], ["'a\\nb' is not a safe identifier"]),
    (["new", "m", "--timeout", "nan"], ["--timeout must be", "got nan"]),
    (["new", "m", "--timeout", "inf"], ["--timeout must be", "got inf"]),
    (["new", "m", "--timeout", "1e400"], ["--timeout must be"]),
    (["new", "m", *SMALL, "--attn", "(" * 1000 + "se" + ")" * 1000],
     ["--attn nests parentheses 1000 levels deep"]),
    (["new", "m", *SMALL, "--attn", "(" * 17 + "se" + ")" * 17], ["17 levels deep", "at most 16"]),
    (["new", "m", *SMALL, "--attn", "se+" * 1000 + "se"], ["--attn is 3002 characters long"]),
    (["new", "m", *SMALL, "--attn", "simam:e_lambda=nan"], ["e_lambda=nan is not a finite number"]),
    (["new", "m", *SMALL, "--attn", "gc:ratio=inf"], ["ratio=inf is not a finite number"]),
    (["new", "m", *SMALL, "--act", "leakyrelu:negative_slope=inf"],
     ["negative_slope=inf is not a finite number"]),
    (["new", "m", *SMALL, "--down", ""], ["--down is empty"]),
    (["new", "m", *SMALL, "--attn", ""], ["--attn is empty"]),
]  # fmt: skip


@pytest.mark.parametrize("args,words", BAD_VALUES, ids=[" ".join(a)[:40] for a, _ in BAD_VALUES])
def test_values_that_cannot_be_emitted_are_one_line_and_write_nothing(args, words, run_cli, tmp_path):
    one_line_error(run_cli(*args), *words)
    assert tree(tmp_path) == []


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1"])
def test_update_refuses_a_bad_timeout_too(timeout, run_cli, tmp_path):
    _project(run_cli, tmp_path)
    before = snapshot(tmp_path)
    one_line_error(run_cli("update", "m", "--timeout", timeout), "--timeout must be")
    assert snapshot(tmp_path) == before


def test_nested_attention_within_the_limit_still_works(run_cli, tmp_path):
    result = run_cli("new", "m", *SMALL, "--width", "16", "--attn", "((se+cbam)^)@dec", "--stdout")
    assert result.code == 0, result.err


# --- corrupted answers files and user files ---------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)


def _damage_record(key, value):
    def damage(data):
        data["project"]["check"][key] = value

    return damage


CORRUPTIONS = {
    "attn is 5": lambda data: data["options"].update(attn=5),
    "up is a list": lambda data: data["options"].update(up=["a", "b"]),
    "depth is nan": lambda data: data["options"].update(depth=float("nan")),
    "check size 0": _damage_record("height", 0),
    "check size -8": _damage_record("width", -8),
    "check size 1e8": _damage_record("height", 10**8),
}


@pytest.mark.parametrize("damage", CORRUPTIONS)
def test_a_corrupted_answers_file_is_one_line_and_changes_nothing(damage, run_cli, tmp_path):
    assert run_cli("new", "m", *SMALL, "--project").code == 0
    answers = tmp_path / "m" / ".plugscaffold.yml"
    data = yaml.safe_load(answers.read_text())
    CORRUPTIONS[damage](data)
    answers.write_text(yaml.safe_dump(data))
    before = snapshot(tmp_path)
    one_line_error(run_cli("update", "m", "--no-smoke", "--up", "bilinear"), ".plugscaffold.yml")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "text,words",
    [
        (BOMB, ["expands to more than", "alias bomb"]),
        ("&a [*a]", ["recursive alias"]),
        ("[" * 200 + "]" * 200, ["nests lists or mappings deeper than 64"]),
        ("name: m\n" + "# padding\n" * 200_000, ["is larger than 1,000,000 bytes"]),
        (b"name: caf\xe9\n", ["is not UTF-8 text (byte 0xe9 at offset 9)"]),
    ],
    ids=["alias bomb", "recursive", "deep", "huge", "latin-1"],
)
def test_a_hostile_answers_file_is_refused_quickly_in_one_short_line(text, words, run_cli, tmp_path):
    assert run_cli("new", "m", *SMALL).code == 0
    answers = tmp_path / "m" / ".plugscaffold.yml"
    answers.write_bytes(text if isinstance(text, bytes) else text.encode())
    started = time.perf_counter()
    line = one_line_error(run_cli("update", "m", "--no-smoke"), "restore it from version control", *words)
    assert time.perf_counter() - started < 5 and len(line) < 300


def test_a_user_model_in_latin_1_is_one_line_and_changes_nothing(run_cli, tmp_path):
    assert run_cli("new", "m", *SMALL).code == 0
    model = tmp_path / "m" / "model.py"
    model.write_bytes(model.read_bytes() + "# Réglage de l'équipe\n".encode("latin-1"))
    before = snapshot(tmp_path)
    one_line_error(
        run_cli("update", "m", "--no-smoke", "--up", "bilinear"), "model.py is not UTF-8", "latin-1"
    )
    assert snapshot(tmp_path) == before


# --- signals and concurrency ------------------------------------------------------------


@pytest.mark.parametrize("delay", [0.02, 0.05, 0.08, 0.1, 0.15])
def test_ctrl_c_in_the_first_tenth_of_a_second_prints_no_traceback_from_plugscaffold(delay, tmp_path):
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "plugscaffold"), "new", "m", *SMALL],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    # Python's own start-up (site, .pth files: ~20-50 ms) runs before any code of ours can,
    # and a Ctrl-C there is Python's traceback; from the package's first line on it is ours.
    assert "/plugscaffold/" not in err, err
    if "Traceback" not in err and proc.returncode != 0:
        assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, err)
        assert err.strip() in ("", "plugscaffold: interrupted; nothing was written"), err
    assert not (tmp_path / "m").exists() or proc.returncode == 0


def test_a_second_update_waits_for_the_first_with_a_message(run_cli, tmp_path):
    project = _project(run_cli, tmp_path)
    with files.project_lock(project):  # another command holds the project
        proc = start(["update", "m", "--no-smoke", "--up", "bilinear"], tmp_path,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        line = proc.stderr.readline()  # blocks until the update says it waits
        assert line.startswith("plugscaffold: waiting for another command on m"), line
        time.sleep(0.3)
        assert proc.poll() is None  # still waiting
        assert "bilinear" not in (project / ".plugscaffold.yml").read_text()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "up: bilinear" in (project / ".plugscaffold.yml").read_text()
    assert (project / "model.py").read_text().endswith("# my edit\n")


def test_new_force_waits_for_a_command_on_its_project_with_a_message(run_cli, tmp_path):
    project = _project(run_cli, tmp_path)
    with files.project_lock(project):  # another command (an update, say) holds the project
        proc = start(["new", "m", *SMALL, "--force", "--up", "bilinear"], tmp_path,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        said = select.select([proc.stderr], [], [], 60)[0]  # its line, within 60 s
        assert said, "new --force waited without a word"
        line = proc.stderr.readline()
        assert line == "plugscaffold: waiting for another command on m to finish ...\n", line
        time.sleep(0.3)
        assert proc.poll() is None  # still waiting, nothing replaced
        assert "bilinear" not in (project / ".plugscaffold.yml").read_text()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err == "" and "up: bilinear" in (project / ".plugscaffold.yml").read_text()


def test_replacing_swaps_a_file_whole_or_leaves_it_as_it_was(tmp_path):
    from plugscaffold.files import replacing

    target = tmp_path / "plot.png"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with replacing(target) as temporary:
            assert temporary.parent == tmp_path and temporary.suffix == ".png"
            temporary.write_text("half", encoding="utf-8")
            raise RuntimeError("interrupted")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]
    with replacing(target) as temporary:
        temporary.write_text("new", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_replace_parts_moves_folders_and_files_all_or_none(tmp_path, monkeypatch):
    from plugscaffold import files

    stage, target = tmp_path / "stage", tmp_path / "out"
    for root, text in ((stage, "new"), (target, "old")):
        (root / "students" / "a").mkdir(parents=True)
        (root / "students" / "a" / "model.py").write_text(text)
        (root / "manifest.yml").write_text(text)
    real = os.replace

    def failing(src, dst):  # the second part cannot be moved in
        if Path(dst) == target / "students" and Path(src).parent == stage:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(files.os, "replace", failing)
    with pytest.raises(OSError):
        files.replace_parts(stage, target, ["manifest.yml", "students"])
    assert (target / "manifest.yml").read_text() == "old"
    assert (target / "students" / "a" / "model.py").read_text() == "old"
    monkeypatch.setattr(files.os, "replace", real)
    files.replace_parts(stage, target, ["manifest.yml", "students"])
    assert (target / "manifest.yml").read_text() == "new"
    assert (target / "students" / "a" / "model.py").read_text() == "new"
