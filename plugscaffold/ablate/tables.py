"""The study's tables and plots: results.csv, results.md, results.tex (booktabs), PNG plots."""

from __future__ import annotations

import csv
import io
import sys

from ..files import replacing
from ..report import human

CSV_COLUMNS = (
    "variant", "status", "reason", "changes", "parameters", "flops", "activation_bytes", "latency_ms",
    "threads", "metric", "metric_mean", "metric_spread", "seeds", "d_parameters", "d_flops", "d_metric",
)  # fmt: skip


def records(run) -> list[dict]:
    """One flat record per variant, in the study's order, with differences against the baseline."""
    rows = []
    for variant in run.study.variants:
        row = run.rows[variant.name]
        figures = row.get("figures") or {}
        train = row.get("train") or {}
        rows.append({
            "variant": variant.name,
            "status": row.get("status"),
            "reason": row.get("reason", ""),
            "changes": " ".join(f"{k}={v}" for k, v in variant.changes.items()),
            "parameters": figures.get("parameters"),
            "flops": figures.get("flops"),
            "activation_bytes": figures.get("activation_bytes"),
            "latency_ms": figures.get("latency_ms"),
            "threads": figures.get("threads"),
            "metric": train.get("metric"),
            "metric_mean": train.get("mean"),
            "metric_spread": train.get("spread"),
            "seeds": train.get("n"),
            **(row.get("extra") or {}),
        })  # fmt: skip
    base = next((r for r in rows if r["variant"] == run.study.reference), {})
    for record in rows:
        for key, name in (("parameters", "d_parameters"), ("flops", "d_flops"), ("metric_mean", "d_metric")):
            have = record.get(key) is not None and base.get(key) is not None
            record[name] = record[key] - base[key] if have else None
    return rows


def _human(value: float | None, unit: str = "") -> str:
    """report.human, the one number format; '-' for a value not measured."""
    return "-" if value is None else human(value, unit)


def _delta(value: float | None, base: float | None, percent: bool = True) -> str:
    if value is None or base in (None, 0):
        return "-"
    return f"{100 * value / base:+.1f}%" if percent else f"{value:+.4f}"


def _display(run) -> tuple[list[str], list[list[str]]]:
    rows = records(run)
    base = next((r for r in rows if r["variant"] == run.study.reference), rows[0])
    trained = any(r["metric_mean"] is not None for r in rows)
    extras = sorted({k for r in rows for k in r if k not in CSV_COLUMNS})
    head = ["variant", "params", "Δ params", "FLOPs", "Δ FLOPs", "act. memory", "latency"]
    if trained:
        head += [f"{rows[0]['metric'] or 'metric'} (mean ± sd)", "Δ metric"]
    head += [*extras, "status"]
    body = []
    for r in rows:
        line = [
            r["variant"],
            _human(r["parameters"]),
            _delta(r["d_parameters"], base["parameters"]),
            _human(r["flops"]),
            _delta(r["d_flops"], base["flops"]),
            _human(r["activation_bytes"], "B"),
            f"{r['latency_ms']:.2f} ms" if r["latency_ms"] is not None else "-",
        ]
        if trained:
            mean = r["metric_mean"]
            line += [
                f"{mean:.4f} ± {r['metric_spread']:.4f} (n={r['seeds']})" if mean is not None else "-",
                _delta(r["d_metric"], 1, percent=False) if r["d_metric"] is not None else "-",
            ]
        line += [str(r.get(k, "")) for k in extras]
        line.append(r["status"] + (f": {r['reason']}" if r["reason"] else ""))
        body.append(line)
    return head, body


def markdown(run) -> str:
    head, body = _display(run)
    settings = run.study.check
    threads = run.study.measure["threads"]
    size = "x".join(map(str, settings["size"])) if settings["size"] else "auto"
    text = [
        f"# Ablation study: {run.study.name}",
        "",
        f"Design: {run.study.design}; check input batch {settings['batch']}, {size}; "
        "FLOPs of the forward pass as FlopCounterMode counts them; "
        "activation memory = bytes saved for backward in one training forward; "
        f"latency = median CPU forward ({threads} thread{'s' if threads != 1 else ''}, "
        f"{run.study.measure['repeats']} runs after {run.study.measure['warmup']} warm-up). "
        f"Δ against `{run.study.reference}`.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
        *("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in body),
    ]
    return "\n".join(text) + "\n"


def latex(run) -> str:
    head, body = _display(run)
    head, body = head[:-1], [line[:-1] for line in body if not line[-1].startswith("skipped")]

    def tex(cell: str) -> str:
        for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                     ("^", r"\^{}"), ("~", r"\~{}"), ("±", r"$\pm$"), ("Δ", r"$\Delta$")):  # fmt: skip
            cell = cell.replace(a, b)
        return cell

    lines = [
        r"% Ablation study " + tex(run.study.name) + r" (plugscaffold); needs \usepackage{booktabs}",
        r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}",
        r"\toprule",
        " & ".join(tex(h) for h in head) + r" \\",
        r"\midrule",
        *(" & ".join(tex(c) for c in line) + r" \\" for line in body),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def csv_text(run) -> str:
    rows = records(run)
    columns = list(CSV_COLUMNS) + sorted({k for r in rows for k in r if k not in CSV_COLUMNS})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r[k] for k in columns})
    return buffer.getvalue()


def plots(run) -> list[str]:
    """params_flops.png, and metric_flops.png when trained; [] and one line when matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plugscaffold: matplotlib is not installed; no plots (pip install matplotlib)", file=run.stream)
        return []
    rows = [r for r in records(run) if r["flops"] is not None]
    made = []
    metric = (rows[0]["metric"] if rows else None) or "metric"
    for key, label, name in (("parameters", "parameters", "params_flops.png"),
                             ("metric_mean", metric, "metric_flops.png")):  # fmt: skip
        points = [r for r in rows if r[key] is not None]
        if not points:
            continue
        figure, axes = plt.subplots(figsize=(6.4, 4.8))
        for r in points:
            baseline = r["variant"] == run.study.reference
            axes.scatter(r["flops"], r[key], marker="*" if baseline else "o", s=160 if baseline else 40,
                         color="tab:red" if baseline else "tab:blue", zorder=3)  # fmt: skip
            if key == "metric_mean" and r["metric_spread"]:
                axes.errorbar(r["flops"], r[key], yerr=r["metric_spread"], color="gray", zorder=2)
            axes.annotate(r["variant"] + (" (baseline)" if baseline else ""), (r["flops"], r[key]),
                          fontsize=7, xytext=(4, 4), textcoords="offset points")  # fmt: skip
        axes.set_xlabel("FLOPs (forward pass, as FlopCounterMode counts)")
        axes.set_ylabel(label)
        axes.set_title(run.study.name)
        axes.grid(alpha=0.3)
        figure.tight_layout()
        with replacing(run.out / name) as tmp:
            figure.savefig(tmp, dpi=120)
        plt.close(figure)
        made.append(name)
    return made


def write_tables(run) -> None:
    from .runner import write_files

    write_files(
        run.out, {"results.csv": csv_text(run), "results.md": markdown(run), "results.tex": latex(run)}
    )
    plots(run)
    print(f"Wrote        {run.out}/results.md, results.csv, results.tex, manifest.json", file=sys.stdout)
