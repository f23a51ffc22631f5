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

    try:
        when = pd.Timestamp.now(tz="UTC") if value is None else pd.Timestamp(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"not an ISO 8601 date or time: {value!r} ({exc})", param_hint=option
        ) from None
    return (when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")).floor("s")


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


def print_metrics(outcome) -> None:
    table = Table(title=f"{outcome.kind} model vs baselines, test period")
    cols = ["target", "method", "roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift", "n"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("target", "method") else "right")
    for rec in outcome.metrics.itertuples(index=False):
        table.add_row(
            *[
                str(getattr(rec, c))
                if c in ("target", "method")
                else (f"{getattr(rec, c):,.0f}" if c == "n" else f"{getattr(rec, c):.4f}")
                for c in cols
            ]
        )
    console.print(table)
    if outcome.kind == "lead":
        grades = Table(title="conversion by grade, test period")
        for c in ("method", "grade", "n", "rate"):
            grades.add_column(c)
        for rec in outcome.by_group.itertuples(index=False):
            grades.add_row(rec.method, rec.grade, f"{rec.n:,}", f"{rec.rate:.1%}")
        console.print(grades)
