"""``plugscaffold ablate``: its options, the short form, and the command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import blueprints
from ..catalog import Catalog
from ..spec import PLACED_SLOT
from .study import CHECK_KEYS, MEASURE_KEYS, SLURM_KEYS, TRAIN_KEYS, StudyError, parse_study, read_study

EXAMPLES = """\
examples:
  plugscaffold ablate examples/ablation.yaml
  plugscaffold ablate my_study --down maxpool,hwd --up convtranspose,dysample --width 32 --size 64
  plugscaffold ablate my_study --attn none --attn se@enc --attn 'se+cbam^@enc;se/cbam@dec' --design oat
  plugscaffold ablate examples/ablation.yaml --train --seeds 3 --jobs 2
  plugscaffold ablate examples/ablation.yaml --train --launcher slurm --partition gpu --gpus 1 --time 120

short form: a comma-separated option is a factor whose first level is the baseline's; an option
with one value is part of the baseline. Each --attn is one level ('none' for no attention;
';' separates the placements of one level). Rerun the same command to resume.
"""


def add_arguments(parser: argparse.ArgumentParser, catalog: Catalog) -> None:
    parser.add_argument(
        "study", help="a study file (YAML, see examples/ablation.yaml), or a NAME for the short form"
    )
    parser.add_argument("--out", metavar="DIR", help="the study folder (default: ./NAME); rerun to resume")
    model = parser.add_argument_group("short form: factors (comma-separated levels) and baseline options")
    for key in blueprints.option_names():
        model.add_argument(f"--{key.replace('_', '-')}", metavar="V[,V...]")
    for slot in catalog.slots:
        if slot == PLACED_SLOT:
            model.add_argument(f"--{slot}", action="append", metavar="LEVEL", help="one level per --attn")
        else:
            model.add_argument(f"--{slot}", metavar="CHOICE[,CHOICE...]")
    model.add_argument("--design", choices=("grid", "oat"), help="grid (default) or one factor at a time")
    measure = parser.add_argument_group("check and measurement")
    measure.add_argument("--size", metavar="HxW", help="input size of every variant's check (default: 64)")
    measure.add_argument("--batch", type=int, metavar="N", help="batch of the check (default: 2)")
    measure.add_argument("--timeout", type=float, metavar="S", help="seconds per variant (default: 600)")
    measure.add_argument("--threads", type=int, metavar="N", help="CPU threads of the latency (default: 1)")
    measure.add_argument("--repeats", type=int, metavar="N", help="timed forward passes (default: 5)")
    train = parser.add_argument_group("training (--train)")
    train.add_argument(
        "--train", action="store_true", help="write each variant's training project and train it"
    )
    train.add_argument(
        "--epochs", type=int, metavar="N", help=f"epochs per run (default: {TRAIN_KEYS['epochs']})"
    )
    train.add_argument(
        "--steps-per-epoch", type=int, metavar="N", help=f"(default: {TRAIN_KEYS['steps_per_epoch']})"
    )
    train.add_argument(
        "--train-batch", type=int, metavar="N", help=f"batch size (default: {TRAIN_KEYS['batch_size']})"
    )
    train.add_argument(
        "--seeds", type=int, metavar="N", help="seeds per variant: metric mean and spread (default: 1)"
    )
    train.add_argument(
        "--data", metavar="DIR", help="real data for train.py --data (default: its synthetic shapes)"
    )
    train.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="training runs at once, locally (default: 1)"
    )
    cluster = parser.add_argument_group("SLURM (--launcher slurm, via submitit)")
    cluster.add_argument("--launcher", choices=("local", "slurm"), default="local")
    cluster.add_argument("--partition", help="SLURM partition")
    cluster.add_argument(
        "--time", type=int, metavar="MIN", help=f"minutes per task (default: {SLURM_KEYS['time']})"
    )
    cluster.add_argument("--gpus", type=int, metavar="N", help="GPUs per task; >1 runs torchrun (default: 0)")
    cluster.add_argument(
        "--cpus", type=int, metavar="N", help=f"CPUs per task (default: {SLURM_KEYS['cpus']})"
    )


def split_levels(text: str) -> list[str]:
    """'dysample:style=pl,groups=8,hwd' -> ['dysample:style=pl,groups=8', 'hwd'] (a KEY=VALUE
    after a choice with hyper-parameters belongs to it)."""
    levels: list[str] = []
    for piece in text.split(","):
        if levels and "=" in piece and ":" not in piece and ":" in levels[-1]:
            levels[-1] += "," + piece
        else:
            levels.append(piece.strip())
    return levels


def short_form(args: argparse.Namespace, catalog: Catalog) -> dict:
    """The study data of the short form (validated like a file by parse_study)."""
    baseline, factors = {}, {}
    for key in (*blueprints.option_names(), *catalog.slots):
        value = getattr(args, key, None)
        if value is None:
            continue
        if key == PLACED_SLOT:
            levels = [
                [p for p in level.split(";") if p.strip()] if ";" in level else level for level in value
            ]
        else:
            levels = split_levels(value)
            if key in blueprints.all_options():
                levels = [int(v) if v.strip().isdigit() else v for v in levels]
        if len(levels) == 1:
            baseline[key] = levels[0]
        else:
            baseline[key], factors[key] = levels[0], levels
    if not factors:
        raise StudyError(
            f"'{args.study}' is not a study file and no option has more than one level; give a factor "
            "(e.g. --down maxpool,hwd) or a study file (see examples/ablation.yaml)"
        )
    return {"name": args.study, "baseline": baseline, "factors": factors, "design": args.design or "grid"}


def _overrides(args: argparse.Namespace) -> dict:
    given = {
        "check": {"size": args.size, "batch": args.batch, "timeout": args.timeout},
        "measure": {"threads": args.threads, "repeats": args.repeats},
        "train": {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch,
                  "batch_size": args.train_batch, "seeds": args.seeds, "data": args.data},  # fmt: skip
        "slurm": {"partition": args.partition, "time": args.time, "gpus": args.gpus, "cpus": args.cpus},
    }
    return {k: {n: v for n, v in group.items() if v is not None} for k, group in given.items()}


def build_study(args: argparse.Namespace, catalog: Catalog):
    path = Path(args.study)
    is_file = path.suffix in (".yaml", ".yml") or path.is_file()
    if is_file:
        given = [
            k for k in (*blueprints.option_names(), *catalog.slots) if getattr(args, k, None) is not None
        ]
        if given or args.design:
            flag = f"--{(given or ['design'])[0].replace('_', '-')}"
            raise StudyError(
                f"{flag} is for the short form; with a study file, put it in {path} (baseline or factors)"
            )
        study = read_study(path, catalog)
        data, source = dict(study.data), str(path)
    else:
        data, source = short_form(args, catalog), "the command line"
    for key, values in _overrides(args).items():
        if values:
            data[key] = {**(data.get(key) or {}), **values}
    if data.get("check", {}).get("size") is None:
        data.setdefault("check", {})["size"] = CHECK_KEYS["size"] or 64
    return parse_study(data, catalog, source, default_name=data.get("name", "study"))


def run_command(args: argparse.Namespace, catalog: Catalog) -> int:
    from .runner import run_study
    from .tables import markdown

    if args.jobs < 1:
        raise StudyError(f"--jobs must be at least 1, got {args.jobs}")
    study = build_study(args, catalog)
    out = Path(args.out) if args.out else Path(study.name)
    try:
        run = run_study(study, out, catalog, train=args.train or args.launcher == "slurm", jobs=args.jobs,
                        launcher=args.launcher)  # fmt: skip
    except KeyboardInterrupt:
        print(f"plugscaffold: interrupted; finished variants are kept in {out}/{'manifest.json'}; "
              "run the same command again to resume", file=sys.stderr)  # fmt: skip
        return 130
    print(markdown(run))
    failed = [name for name, row in run.rows.items() if row.get("status") == "failed"]
    failed += [f"{name} (seeds {', '.join(row['train']['failed'])})" for name, row in run.rows.items()
               if (row.get("train") or {}).get("failed")]  # fmt: skip
    if failed:
        print(f"plugscaffold: error: {len(failed)} failed: {', '.join(failed)}; "
              "run the same command again to retry them (finished ones are kept)",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


__all__ = ["add_arguments", "run_command", "EXAMPLES", "MEASURE_KEYS"]
