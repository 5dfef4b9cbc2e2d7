"""plugscaffold add (issue 12): a corpus of modules with known contracts is probed and classified;
an added module is used like a built-in; refusals are one line and write nothing.

The corpus (tests/fixtures/user_modules/) is probed in one worker (one torch import) for the
classification tests. User catalogs live in tmp dirs: conftest points XDG_CONFIG_HOME at one
for the whole suite, and the tests here at their own.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from plugscaffold import inline, probe
from plugscaffold.catalog import load_catalog
from plugscaffold.errors import CatalogError

CORPUS = Path(__file__).resolve().parent / "fixtures" / "user_modules"
LIMITS = probe.Limits(timeout=120, call_timeout=2)
CODE = "https://github.com/example/modules"

TARGETS = {
    "GateAttention": "gate_attention.py",
    "ResidualAttention": "residual_attention.py",
    "DoubleFusion": "double_fusion.py",
    "ConcatFuse": "concat_fuse.py",
    "GroupDown": "group_down.py",
    "PixelUp": "pixel_up.py",
    "FixedMapAttention": "fixed_size.py",
    "TokenMixer": "token_mixer.py",
    "ChattyAttention": "chatty.py",
    "CudaAttention": "cuda_attention.py",
    "Forever": "forever.py",
    "Hungry": "hungry.py",
    "EinopsAttention": "einops_attention.py",
    "NeedsHeads": "needs_heads.py",
    "WideOnly": "wide_only.py",
}
BROKEN = (
    '"""A file that does not parse."""\n\nimport torch.nn as nn\n\n\n'
    "class Broken(nn.Module):\n    def forward(self, x)\n        return x\n"
)


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """Every corpus class (and a file with a syntax error) probed once, in one worker."""
    broken = tmp_path_factory.mktemp("broken") / "broken_syntax.py"
    broken.write_text(BROKEN, encoding="utf-8")
    targets = [(CORPUS / file, cls) for cls, file in TARGETS.items()] + [(broken, "Broken")]
    results = probe.probe_files(targets, LIMITS)
    return dict(zip([cls for _, cls in targets], results))


@pytest.fixture(scope="module")
def builtin():
    return load_catalog()


def observed(probed, cls) -> probe.Observed:
    result = probed[cls]
    assert isinstance(result, probe.Observed), result
    return result


def refusal(catalog, obs, slot=None) -> str:
    with pytest.raises(probe.ProbeError) as err:
        probe.fit_slot(catalog, obs, slot)
    message = str(err.value)
    assert "\n" not in message and message.endswith("nothing was written")
    return message


def test_shape_preserving_attention(probed, builtin):
    obs = observed(probed, "GateAttention")
    assert (obs.in_arg, obs.how, obs.out_arg) == ("channels", "name", None)
    assert (obs.inputs, obs.layout, obs.scale, obs.channels) == (1, "NCHW", 1, "in_channels")
    assert obs.constraints == [] and obs.fixed_size is None and obs.residual is False and obs.effects == []
    assert probe.fit_slot(builtin, obs, None) == "attn"
    assert obs.build() == "GateAttention(channels={in_channels}, reduction={reduction})"
    assert obs.params == {"reduction": 4}


def test_hidden_residual_and_a_channel_argument_found_by_trial(probed, builtin):
    obs = observed(probed, "ResidualAttention")
    assert (obs.in_arg, obs.how) == ("n", "trial")
    assert obs.residual is True and obs.channels == "in_channels"
    assert any("hidden" in line for line in obs.lines())
    assert probe.fit_slot(builtin, obs, "attn") == "attn"


def test_channel_doubling_fusion(probed, builtin):
    obs = observed(probed, "DoubleFusion")
    assert (obs.inputs, obs.channels, obs.align) == (2, "2 * in_channels", "equal")
    assert probe.fit_slot(builtin, obs, None) == "skip"
    message = refusal(builtin, obs, "attn")
    assert "DoubleFusion takes 2 input(s): not an attn module; use --slot skip" in message


def test_two_input_fusion(probed, builtin):
    obs = observed(probed, "ConcatFuse")
    assert obs.in_arg is None and obs.build() == "ConcatFuse()"
    assert (obs.inputs, obs.channels, obs.align) == (2, "in_channels + skip_channels", None)
    assert probe.fit_slot(builtin, obs, None) == "skip"


def test_downsampler_with_a_divisibility_constraint(probed, builtin):
    obs = observed(probed, "GroupDown")
    assert (obs.in_arg, obs.out_arg, obs.scale, obs.channels) == (
        "in_channels",
        "out_channels",
        0.5,
        "out_channels",
    )
    checks = [check for check, _ in obs.constraints]
    assert checks == ["in_channels % 4 == 0", "out_channels % 4 == 0"]
    assert "widths 6, 30 fail" in obs.constraints[0][1]
    assert probe.fit_slot(builtin, obs, None) == "down"
    assert "GroupDown halves H and W: not an attn module; use --slot down" in refusal(builtin, obs, "attn")


def test_module_that_needs_many_channels(probed, builtin):
    obs = observed(probed, "WideOnly")
    assert obs.channels == "in_channels" and obs.example == "64 -> 64"
    assert [check for check, _ in obs.constraints] == ["in_channels >= 64"]
    assert "must be at least reduction (64)" in obs.constraints[0][1]
    assert probe.fit_slot(builtin, obs, None) == "attn"


def test_upsampler(probed, builtin):
    obs = observed(probed, "PixelUp")
    assert (obs.scale, obs.channels) == (2, "in_channels")
    assert probe.fit_slot(builtin, obs, None) == "up"


def test_module_that_works_at_one_size_only(probed, builtin):
    obs = observed(probed, "FixedMapAttention")
    assert obs.fixed_size == (16, 16)
    assert "works only on 16x16 inputs" in refusal(builtin, obs, "attn")


def test_token_layout_module(probed, builtin):
    obs = observed(probed, "TokenMixer")
    assert obs.layout == "tokens" and obs.channels == "in_channels"
    assert "works on tokens (B, N, C)" in refusal(builtin, obs)


def test_module_that_prints_and_silences_warnings(probed):
    obs = observed(probed, "ChattyAttention")
    kinds = {(e.kind, e.blocking) for e in obs.effects}
    assert ("print", False) in kinds and ("warnings", False) in kinds
    assert any("forward" in e.where for e in obs.effects if e.kind == "print")
    assert any("import" in e.where for e in obs.effects if e.kind == "warnings")
    # the print in forward would be copied into model.py: refused; the filter at import would not
    assert [(e.where, e.blocking) for e in obs.effects if e.blocking] == [("line 17", True)]


def test_module_that_calls_cuda(probed):
    obs = observed(probed, "CudaAttention")
    cuda = [e for e in obs.effects if e.kind == "cuda"]
    assert cuda and all(e.blocking for e in cuda)
    assert any("line 13" in e.detail or "line 13" in e.where for e in cuda)
    assert obs.channels == "in_channels"  # .cuda() is recorded, not run: the rest is still probed


def test_file_with_a_syntax_error(probed):
    error = probed["Broken"]
    assert isinstance(error, probe.ProbeError)
    assert "does not import: SyntaxError" in str(error) and "(line 7)" in str(error)


def test_forward_that_never_returns(probed):
    error = probed["Forever"]
    assert isinstance(error, probe.ProbeError)
    assert "Forever hangs: its forward did not return within 2 s" in str(error)


def test_forward_that_exhausts_memory(probed):
    error = probed["Hungry"]
    assert isinstance(error, probe.ProbeError)
    assert "Hungry exhausts memory in its forward" in str(error) and "4096 MiB" in str(error)


def test_hidden_requirement_is_named(probed):
    error = probed["EinopsAttention"]
    assert isinstance(error, probe.ProbeError)
    assert "No module named 'einops'" in str(error)
    assert "needs 'from einops import rearrange': model.py may import only torch" in str(error)


def test_constructor_argument_without_a_default_is_named(probed):
    error = probed["NeedsHeads"]
    assert isinstance(error, probe.ProbeError)
    assert "constructor argument 'num_heads' has no default and is not a channel count" in str(error)


def test_static_scan_of_the_code_that_would_be_inlined():
    path = CORPUS / "chatty.py"
    effects = probe.scan(path, path.read_text(), ["ChattyAttention"])
    assert [(e.kind, e.where, e.blocking) for e in effects] == [("print", "line 17", True)]
    path = CORPUS / "cuda_attention.py"
    effects = probe.scan(path, path.read_text(), ["CudaAttention"])
    assert [(e.kind, e.where, e.blocking) for e in effects] == [("cuda", "line 13", True)]
    path = CORPUS / "einops_attention.py"
    assert [e.kind for e in probe.scan(path, path.read_text(), ["EinopsAttention"])] == ["import"]


def test_a_class_named_like_a_shipped_one_is_refused_before_it_runs(tmp_path):
    path = tmp_path / "se.py"
    path.write_text(
        "import torch.nn as nn\n\n\nclass SqueezeExcite(nn.Module):\n    pass\n\n\nraise SystemExit\n"
    )
    (error,) = probe.probe_files([(path, "SqueezeExcite")], LIMITS)
    assert isinstance(error, probe.ProbeError)
    assert "defines SqueezeExcite, as a catalog module does" in str(error) and "rename it" in str(error)


@pytest.mark.slow
def test_a_hang_that_swallows_the_call_limit_ends_at_the_probe_limit(builtin):
    start = time.monotonic()
    with pytest.raises(probe.ProbeError, match="Stubborn did not finish probing within 10 s"):
        probe.probe_file(
            CORPUS / "stubborn.py", "Stubborn", probe.Limits(timeout=10, call_timeout=1), builtin
        )
    assert time.monotonic() - start < 30


@pytest.mark.slow
def test_in_out_module_is_not_an_attention_module(tmp_path, builtin):
    path = tmp_path / "widen.py"
    path.write_text(
        "import torch.nn as nn\n\n\nclass Widen(nn.Module):\n"
        "    def __init__(self, in_channels, out_channels):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)\n\n"
        "    def forward(self, x):\n        return self.conv(x)\n",
        encoding="utf-8",
    )
    obs = probe.probe_file(path, "Widen", LIMITS, builtin)
    assert obs.channels == "out_channels" and obs.example == "32 -> 48"
    message = refusal(builtin, obs, "attn")
    assert "Widen changes channels 32 -> 48: not an attn module; use --slot conv (or block, head)" in message


# --- the command line, end to end ------------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A user with their own config dir and an empty project directory."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    project = tmp_path / "work"
    project.mkdir()
    return config / "plugscaffold", project


STANDALONE = """
import runpy, sys
sys.modules["plugscaffold"] = None
ns = runpy.run_path("model.py")
import torch
out = ns["UNet"]()(torch.randn(1, 3, 40, 24))
assert out.shape == (1, 2, 40, 24), out.shape
print("ok")
"""


@pytest.mark.slow
def test_add_then_new_list_show_remove(home, run_cli):
    config, work = home
    added = run_cli(
        "add", f"{CORPUS / 'residual_attention.py'}:ResidualAttention", "--name", "resatt",
        "--license", "MIT", "--code", CODE, "--yes", cwd=work,
    )  # fmt: skip
    assert added.code == 0, added.err
    assert "this runs the file's code" in added.err and "no network" in added.err
    assert "hidden" in added.out and "Added        attn resatt" in added.out
    assert (config / "modules" / "resatt.py").read_text() == (CORPUS / "residual_attention.py").read_text()
    entry = yaml.safe_load((config / "catalog.yaml").read_text())["modules"][0]
    assert entry["build"] == "ResidualAttention(n={in_channels}, kernel_size={kernel_size})"
    assert entry["params"]["kernel_size"]["default"] == 3 and entry["license"] == "MIT"
    assert entry["contract"] == {"inputs": 1, "channels": "in_channels", "scale": 1, "layout": "NCHW"}

    listed = run_cli("list", "attn", cwd=work)
    assert "resatt*" in listed.out and "*: a user module" in listed.out
    shown = run_cli("show", "resatt", cwd=work)
    assert f"user module, added with 'plugscaffold add' (user catalog {config / 'catalog.yaml'})" in shown.out

    made = run_cli("new", "net", "--attn", "resatt:kernel_size=5", "--width", "8", "--depth", "2", cwd=work)
    assert made.code == 0, made.err
    assert "forward and backward passed" in made.out
    model = (work / "net" / "model.py").read_text()
    assert "class ResidualAttention(nn.Module):" in model and "ResidualAttention(n=8, kernel_size=5)" in model
    assert "attn resatt (user module): ResidualAttention" in model and "licence: MIT" in model
    assert "import plugscaffold" not in model
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F", "model.py"],
        cwd=work / "net", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout
    proc = subprocess.run(
        [sys.executable, "-I", "-c", STANDALONE],
        cwd=work / "net",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr

    spec = (Path(__file__).resolve().parent.parent / "examples" / "homework.yaml").read_text()
    spec = spec.replace("attn: [se, cbam]", "attn: [resatt, se]").replace(
        "carol: {attn: cbam}", "carol: {attn: resatt}"
    )
    (work / "hw.yaml").write_text(spec)
    homework = run_cli("homework", "hw.yaml", "--out", "hw1", cwd=work)
    assert homework.code == 0, homework.err
    assert "ResidualAttention (attn resatt)" in homework.out
    assert (
        "class ResidualAttention(nn.Module):"
        in (work / "hw1" / "solutions" / "carol" / "model.py").read_text()
    )

    removed = run_cli("remove", "resatt", cwd=work)
    assert removed.code == 0 and "Removed      attn resatt" in removed.out
    assert yaml.safe_load((config / "catalog.yaml").read_text())["modules"] == []
    assert not (config / "modules" / "resatt.py").exists()
    gone = run_cli("new", "net2", "--attn", "resatt", "--width", "8", "--depth", "2", cwd=work)
    assert gone.code == 1 and "unknown attn module 'resatt'" in gone.err


@pytest.mark.slow
def test_readd_a_changed_file_shows_the_contract_diff_and_regenerates_nothing(home, run_cli, tmp_path):
    config, work = home
    source = tmp_path / "mine.py"
    source.write_text((CORPUS / "gate_attention.py").read_text())
    first = run_cli(
        "add",
        f"{source}:GateAttention",
        "--project",
        "--license",
        "not stated",
        "--code",
        CODE,
        "--yes",
        cwd=work,
    )
    assert first.code == 0, first.err
    assert (work / ".plugscaffold" / "catalog.yaml").is_file() and not config.exists()
    made = run_cli(
        "new", "net", "--attn", "gateattention", "--width", "8", "--depth", "2", "--no-smoke", cwd=work
    )
    assert made.code == 0, made.err
    before = (work / "net" / "model.py").read_text()

    changed = source.read_text().replace(
        "kernel_size=1)\n        self.fc2", "kernel_size=1, groups=4)\n        self.fc2"
    )
    changed = changed.replace("hidden = max(1, channels // reduction)", "hidden = 4 * max(1, channels // 16)")
    source.write_text(changed)
    again = run_cli(
        "add", f"{source}:GateAttention", "--license", "not stated", "--code", CODE, "--yes", cwd=work
    )
    assert again.code == 0, again.err
    assert "Changes from the catalog's attn gateattention:" in again.out
    assert "constraints: [] -> ['in_channels % 4 == 0']" in again.out
    assert "Nothing was regenerated" in again.out
    assert (work / "net" / "model.py").read_text() == before
    assert "groups=4" in (work / ".plugscaffold" / "modules" / "gateattention.py").read_text()
    upgraded = run_cli("update", "net", "--upgrade-modules", "--no-smoke", cwd=work)
    assert upgraded.code == 0, upgraded.err
    assert "Upgraded     attn/gateattention" in upgraded.out
    assert "groups=4" in (work / "net" / "model.py").read_text()


@pytest.mark.slow
def test_provenance_and_confirmation_are_asked_in_a_terminal(home, monkeypatch, builtin, capsys):
    config, work = home
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    questions, answers = [], iter([CODE, "Apache-2.0", "y"])

    def ask(question):
        questions.append(question)
        return next(answers)

    args = argparse.Namespace(
        target=f"{CORPUS / 'pixel_up.py'}:PixelUp", name=None, slot=None, title=None, paper=None, code=None,
        license=None, project=False, yes=False, timeout=120.0, memory=4096,
    )  # fmt: skip
    assert probe.add_module(args, builtin, ask=ask) == 0
    assert questions == [
        "code URL (https://...) the file comes from: ",
        "licence of that code (e.g. MIT, 'not stated'): ",
        "Add pixelup to the up slot? [y/N] ",
    ]
    entry = yaml.safe_load((config / "catalog.yaml").read_text())["modules"][0]
    assert (entry["reference_code"], entry["license"], entry["slot"]) == (CODE, "Apache-2.0", "up")
    assert "Contract of PixelUp" in capsys.readouterr().out


def test_refusals_are_one_line_and_write_nothing(home, run_cli, tmp_path):
    config, work = home
    clash = run_cli("add", f"{CORPUS / 'gate_attention.py'}:GateAttention", "--name", "se", "--yes", cwd=work)
    assert clash.code == 1
    assert (
        clash.err.count("\n") == 1 and "the name 'se' is taken by the built-in attn module 'se'" in clash.err
    )
    broken = tmp_path / "broken.py"
    broken.write_text(BROKEN)
    bad = run_cli("add", f"{broken}:Broken", "--yes", "--license", "MIT", "--code", CODE, cwd=work)
    assert bad.code == 1 and "does not import: SyntaxError" in bad.err
    assert bad.err.strip().count("\n") == 1  # the 'Probing ... runs the file's code' line, then the error
    slot = run_cli("add", f"{CORPUS / 'gate_attention.py'}:GateAttention", "--slot", "atn", cwd=work)
    assert slot.code == 1 and "--slot atn: unknown slot (did you mean 'attn'?)" in slot.err
    assert "Probing" not in slot.err  # refused before any of the file's code runs
    missing = run_cli("add", "nope.py:X", cwd=work)
    assert missing.code == 1 and "nope.py: no such file" in missing.err
    assert not config.exists() and not (work / ".plugscaffold").exists()


@pytest.mark.slow
def test_unconfirmed_or_misfit_writes_nothing(home, run_cli):
    config, work = home
    target = f"{CORPUS / 'double_fusion.py'}:DoubleFusion"
    misfit = run_cli("add", target, "--slot", "attn", "--yes", "--license", "MIT", "--code", CODE, cwd=work)
    assert misfit.code == 1 and "not an attn module; use --slot skip; nothing was written" in misfit.err
    unconfirmed = run_cli("add", target, "--license", "MIT", "--code", CODE, cwd=work)
    assert unconfirmed.code == 1 and "add --yes" in unconfirmed.err
    assert not config.exists()


# --- user catalogs are validated like catalog.yaml ----------------------------------------------------


def _user_catalog(config: Path, entry: dict, source: str = "gate_attention.py") -> None:
    (config / "modules").mkdir(parents=True)
    (config / "modules" / "mine.py").write_text((CORPUS / source).read_text())
    (config / "catalog.yaml").write_text(yaml.safe_dump({"version": "1", "modules": [entry]}))


ENTRY = {
    "name": "mine", "slot": "attn", "title": "my gate", "reference_code": CODE, "license": "MIT",
    "source": {"file": "mine.py", "classes": ["GateAttention"]},
    "build": "GateAttention(channels={in_channels})",
    "contract": {"inputs": 1, "channels": "in_channels", "scale": 1, "layout": "NCHW"},
}  # fmt: skip


def test_user_catalog_is_validated_and_merged(home, monkeypatch, tmp_path):
    config, work = home
    _user_catalog(config, {**ENTRY, "contract": {**ENTRY["contract"], "chanels": "x"}})
    with pytest.raises(CatalogError, match=r"catalog.yaml: entry 'mine': contract: unknown key 'chanels'"):
        load_catalog(user=True)
    (config / "catalog.yaml").write_text(yaml.safe_dump({"modules": [{**ENTRY, "name": "cbam"}]}))
    with pytest.raises(CatalogError, match="already taken in slot 'attn' by the built-in entry 'cbam'"):
        load_catalog(user=True)
    (config / "catalog.yaml").write_text(yaml.safe_dump({"modules": [{**ENTRY, "license": "?"}]}))
    with pytest.raises(CatalogError, match="license '\\?' is not a known licence"):
        load_catalog(user=True)
    (config / "catalog.yaml").write_text(yaml.safe_dump({"modules": [ENTRY]}))
    _user_catalog(work / ".plugscaffold", {**ENTRY, "title": "the project's gate"})
    monkeypatch.chdir(work)
    assert load_catalog(user=True).entries["attn/mine"].title == "the project's gate"
    monkeypatch.chdir(tmp_path)
    merged = load_catalog(user=True)
    entry = merged.entries["attn/mine"]
    assert entry.is_user and entry.origin == "user" and not merged.entries["attn/se"].is_user
    sources, _ = inline.collect(entry.classes)
    assert sources[0].startswith("class GateAttention(nn.Module):")


@pytest.mark.slow
def test_check_over_the_whole_catalog_and_a_wrong_declaration(home, run_cli):
    """add --check all: every built-in entry's declared contract matches its behaviour (about 10 s
    for 75 entries in one worker on the 2-core machine), and a user entry that declares a wrong
    channel rule is caught (exit 1)."""
    config, work = home
    wrong = {**ENTRY, "slot": "block", "build": "GateAttention(channels={in_channels})"}
    wrong["contract"] = {"inputs": 1, "channels": "out_channels", "scale": 1, "layout": "NCHW"}
    _user_catalog(config, wrong)
    checked = run_cli("add", "--check", "all", "--timeout", "300", cwd=work)
    assert checked.code == 1
    lines = checked.out.splitlines()
    assert len([line for line in lines if line.endswith(": ok")]) == len(load_catalog().entries)
    assert (
        "block/mine: declared contract and behaviour disagree: channels at in=48, out=32: "
        "declared out_channels = 32, observed 48" in lines
    )
    assert "1 of " in checked.err and "disagree with their contract" in checked.err
    one = run_cli("add", "--check", "se", cwd=work)
    assert one.code == 0 and one.out.strip() == "attn/se: ok"
