"""Model quality on public CRM data sets (`make bench-quality`): every shipped mapping with an
`evaluation` section whose data set is present under ../shared/datasets is imported, its model
trained as the mapping says, and the model reported beside its baselines; Maven also gets the
forecast backtest. Absent data sets are skipped with a message. Writes the table between the
quality markers of docs/benchmarks.md.

Usage: python benchmarks/quality.py [--datasets ../shared/datasets] [--no-write]
"""

import argparse
import time
from pathlib import Path

import _machine  # beside this script

from funnelcast.core.config import load_config
from funnelcast.ingest.mapping import load_mapping
from funnelcast.ingest.run import run_import
from funnelcast.training.quality import (
    age_table,
    evaluate,
    grade_rates,
    quality_table,
    repeated_holdout,
    repeated_summary,
)

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- quality:start -->", "<!-- quality:end -->"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--out", default="bench-data/quality")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    config = load_config()
    datasets = Path(args.datasets)
    lines = [
        START,
        "",
        f"Machine: {_machine.describe()}. Command: `{_machine.command()}` (`make bench-quality`).",
        "",
    ]
    tables, ages, notes = [], [], []
    for path in sorted((ROOT / "configs" / "mappings").glob("*.yaml")):
        mapping = load_mapping(path)
        ev = mapping.evaluation
        if ev is None:
            continue
        folder = datasets / ev.dataset
        if not folder.is_dir():
            print(f"skipped {mapping.name}: {folder} is absent")
            notes.append(f"- {mapping.name}: skipped ({folder} absent)")
            continue
        files = [folder / s.file for s in mapping.sources.values()]
        started = time.perf_counter()
        data, report = run_import(mapping, files, Path(args.out) / mapping.name, config.funnel)
        skipped = sum(report.skipped.values())
        runs = evaluate(mapping, data, config, with_leaky=True)
        table = quality_table(runs, config.training.seed)
        tables.append(table)
        ages.append(age_table(runs))
        print(
            f"{mapping.name}: imported {sum(report.written.values()):,} rows ({skipped:,} not imported), "
            f"{len(runs)} model(s) in {time.perf_counter() - started:.0f} s"
        )
        print(table.round(3).to_string(index=False))
        for run in runs:
            rates = grade_rates(run)
            if rates:
                notes.append(
                    f"- {mapping.name}, {run.split}, {run.variant}: conversion per model grade on the "
                    f"held-out rows: {rates}"
                )
        if "stratified" in ev.splits:
            redrawn = repeated_summary(repeated_holdout(mapping, data, config))
            notes.append(f"- {mapping.name}, without leaky columns: {redrawn}")
        if ev.notes:
            notes.append(
                f"- {mapping.name}: {ev.notes}; {skipped:,} source-derived rows not imported "
                "(reasons in import_report.json)"
            )
        if ev.backtest:
            from funnelcast.training.backtest import backtest

            result = backtest(data, config, ev.backtest, warmup_days=180)
            from funnelcast.analytics.outputs import backtest_markdown

            notes.append(
                f"- {mapping.name}: forecast backtest by {ev.backtest} "
                f"({len(result.periods)} periods, {len(result.skipped)} skipped):\n"
            )
            notes.append(
                backtest_markdown(result.periods, result.summary, ev.backtest).replace("# ", "#### ", 1)
            )
    header = (
        "| data set | split | variant | method | ROC AUC | PR AUC | Brier | ECE | top-decile lift "
        "| test rows |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|"
    )
    lines.append(header)
    for table in tables:
        for _, r in table.iterrows():
            lines.append(
                f"| {r['data set']} | {r['split']} | {r['variant']} | {r['method']} | {r['roc_auc']:.3f} | "
                f"{r['pr_auc']:.3f} | {r['brier']:.3f} | {r['ece']:.3f} | {r['top_decile_lift']:.2f} | "
                f"{r['test rows']:,} |"
            )
    lines += [
        "",
        "For leads, `model` is the decision point (each lead's creation snapshot: which new lead to call) "
        "and `model every age` covers a lead's whole open life (listed where a data set has snapshots "
        "after creation; X Education has no dates, Olist's evaluation keeps creation snapshots only). "
        "Where the model is used, by lead age (leads) or stage (deals), on the same held-out rows:",
        "",
        "| data set | split | variant | where | rows | observed | mean predicted | ROC AUC | ECE |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for table in ages:
        for _, r in table.iterrows():
            lines.append(
                f"| {r['data set']} | {r['split']} | {r['variant']} | {r['group']} | {r['n']:,} | "
                f"{r['positive_rate']:.3f} | {r['mean_predicted']:.3f} | {r['roc_auc']:.3f} | "
                f"{r['ece']:.3f} |"
            )
    lines += ["", *notes, "", END]
    block = "\n".join(lines)
    print(block)
    if not args.no_write:
        doc = ROOT / "docs" / "benchmarks.md"
        text = doc.read_text(encoding="utf-8")
        if START in text:
            text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
        else:
            text += "\n## Model quality on public CRM data sets (`benchmarks/quality.py`)\n" + block + "\n"
        doc.write_text(text, encoding="utf-8")
        print(f"wrote {doc}")


if __name__ == "__main__":
    main()
