"""What every command shares: the consoles, options, configuration, times and the tables it prints."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console() if Console().is_terminal else Console(width=150)  # tables stay readable in logs and CI
err_console = Console(stderr=True)

ConfigDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        help="Directory with funnel.yaml, leads.yaml and training.yaml "
        "(default: $FUNNELCAST_CONFIG_DIR or the defaults shipped with Funnelcast)",
    ),
]


def config_of(config_dir: Path | None):
    from funnelcast.core.config import load_config

    return load_config(config_dir)


def timestamp(value: str | None, option: str):
    """An ISO 8601 option as a UTC timestamp (naive = UTC), floored to seconds; None -> now."""
    import pandas as pd

    from funnelcast.core.errors import InvalidInput
    from funnelcast.core.times import parse_instants

    if value is None:
        return pd.Timestamp.now(tz="UTC").floor("s")
    try:
        seconds = parse_instants([value.strip()])[0]
    except InvalidInput as exc:
        raise typer.BadParameter(exc.details[0]["message"], param_hint=option) from None
    return pd.Timestamp(int(seconds), unit="s", tz="UTC")


def data_as_of(value: str | None, data, option: str = "--as-of"):
    """The --as-of of a command that reads a data export: the given time, else the data's last event (an
    export describes the moment it was taken, not today). A time later than the data's last event is
    used as given, with a one-line warning: everything after the export is unknown, not absent."""
    end = data.last_event()
    if value is None:
        if end is None:
            raise typer.BadParameter("the data has no timestamps; give --as-of", param_hint=option)
        when = end.floor("s")
        console.print(f"as of the data's last event, {when.isoformat()} (give --as-of for another time)")
        return when
    when = timestamp(value, option)
    if end is not None and when > end:
        err_console.print(
            f"[yellow]warning[/yellow]: {option} {when.isoformat()} is after the data's last event "
            f"({end.isoformat()}): nothing after the export is known, so later stalls and ages are only "
            "the export's age",
            highlight=False,
        )
    return when


def write_table(table, out: Path) -> None:
    """A table to .csv (UTF-8) or .parquet, by the file's suffix; any other suffix is refused."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise typer.BadParameter(f"expected a .csv or .parquet file, got {out.name!r}", param_hint="--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        table.to_csv(out, index=False, encoding="utf-8")
    else:
        table.to_parquet(out, index=False)


def print_problems(problems, max_problems: int) -> None:
    shown = problems if max_problems <= 0 else problems[:max_problems]
    for p in shown:
        print(p)  # plain stdout, one line per problem, greppable
    if len(shown) < len(problems):
        print(f"... {len(problems) - len(shown)} more problem(s) not shown")
    counts = Counter(p.rule for p in problems)
    err_console.print(
        f"[red]{len(problems)} problem(s)[/red]: " + ", ".join(f"{r} {n}" for r, n in counts.most_common())
    )


def print_summary(loaded, funnel) -> None:
    from funnelcast.analytics.summary import summarise

    s = summarise(loaded, funnel)
    rows = Table(title="Rows per entity")
    rows.add_column("entity")
    rows.add_column("rows", justify="right")
    for name, n in s.rows.items():
        rows.add_row(name, f"{n:,}")
    console.print(rows)
    console.print(f"date range: {s.first_event} .. {s.last_event}")
    console.print(
        f"lead -> opportunity conversion: {s.lead_conversion_rate:.1%}; "
        f"win rate of closed deals: {s.win_rate_closed:.1%}"
    )
    stages = Table(title="Deals by current stage")
    for c in ("pipeline", "stage", "deals"):
        stages.add_column(c, justify="right" if c == "deals" else "left")
    for rec in s.deals_by_stage.itertuples(index=False):
        stages.add_row(rec.pipeline, rec.stage, f"{rec.deals:,}")
    console.print(stages)


def _number(value, fmt: str) -> str:
    return "n/a" if value is None or value != value else format(value, fmt)


def print_metrics(outcome) -> None:
    """The test period as a data scientist reads it: the headline (for leads at the decision point, the
    creation snapshot) beside the baselines, then per lead age or stage, the grades, and every warning."""
    title = (
        "at the decision point (a lead's creation snapshot)" if outcome.kind == "lead" else "every snapshot"
    )
    table = Table(title=f"{outcome.kind} model vs baselines, test period, {title}")
    cols = ["target", "method", "roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift", "n"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("target", "method") else "right")
    for rec in outcome.metrics.itertuples(index=False):
        table.add_row(
            *[
                str(getattr(rec, c))
                if c in ("target", "method")
                else _number(getattr(rec, c), ",.0f" if c == "n" else ".4f")
                for c in cols
            ]
        )
    console.print(table)
    if outcome.by_age is not None and len(outcome.by_age):
        group = "lead_age" if outcome.kind == "lead" else "stage"
        by = Table(title=f"model by {'lead age' if group == 'lead_age' else 'stage'}, test period")
        for c in (group, "n", "positive_rate", "mean_predicted", "roc_auc", "ece"):
            by.add_column(c, justify="left" if c == group else "right")
        for rec in outcome.by_age[outcome.by_age["method"] == "model"].itertuples(index=False):
            by.add_row(
                str(getattr(rec, group)),
                f"{rec.n:,}",
                _number(rec.positive_rate, ".1%"),
                _number(rec.mean_predicted, ".1%"),
                _number(rec.roc_auc, ".3f"),
                _number(rec.ece, ".3f"),
            )
        console.print(by)
    if outcome.kind == "lead":
        grades = Table(title="conversion by grade, test period")
        for c in ("method", "grade", "n", "rate"):
            grades.add_column(c)
        for rec in outcome.by_group.itertuples(index=False):
            grades.add_row(rec.method, rec.grade, f"{rec.n:,}", f"{rec.rate:.1%}")
        console.print(grades)
        graded = outcome.bundle.metadata.get("grades") or {}
        if graded.get("expected"):
            console.print(
                "expected conversion per grade (validation): "
                + ", ".join(f"{g} {_number(r, '.1%')}" for g, r in graded["expected"].items())
            )
        for note in graded.get("notes", []):
            console.print(f"grades: {note}", highlight=False)
    for warning in outcome.warnings:
        err_console.print(f"[yellow]warning[/yellow]: {warning}", highlight=False)
