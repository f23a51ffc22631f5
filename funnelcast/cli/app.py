"""The `funnelcast` command line. Entry points configure logging; heavy imports happen per command."""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from funnelcast.core.errors import FunnelcastError

app = typer.Typer(
    help="Funnelcast: lead scoring and deal health for CRM data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console() if Console().is_terminal else Console(width=150)  # tables stay readable in logs and CI
err_console = Console(stderr=True)
logger = logging.getLogger("funnelcast")

ConfigDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        help="Directory with funnel.yaml and leads.yaml "
        "(default: $FUNNELCAST_CONFIG_DIR or the project's configs/)",
    ),
]


def _config(config_dir: Path | None):
    from funnelcast.core.config import load_config

    return load_config(config_dir)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Output data directory")],
    leads: Annotated[int, typer.Option(min=1, help="Number of leads")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files")] = 7,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    config_dir: ConfigDirOpt = None,
) -> None:
    """Generate a synthetic CRM data set (about two years) with its ground truth."""
    from funnelcast.synthetic import generate as make
    from funnelcast.synthetic import write_dataset

    cfg = _config(config_dir)
    with console.status("generating") as status:
        crm = make(leads, seed, cfg, progress=lambda msg: status.update(f"generating: {msg}"))
        status.update("writing files")
        write_dataset(crm, out, fmt=fmt)
    console.print(f"wrote {', '.join(f'{k} {len(v):,}' for k, v in crm.frames.items())} rows to {out}")


@app.command()
def validate(
    data: Annotated[Path, typer.Argument(help="Data directory")],
    lenient: Annotated[bool, typer.Option(help="Skip (and count) bad rows instead of failing")] = False,
    max_problems: Annotated[int, typer.Option(help="Print at most this many problems (0 = all)")] = 0,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Check a data directory against the data model; exit 1 with one line per problem."""
    from funnelcast.features.errors import DataValidationError
    from funnelcast.features.io import load_crm_data

    cfg = _config(config_dir)
    try:
        loaded, report = load_crm_data(data, cfg.funnel, lenient=lenient)
    except DataValidationError as exc:
        _print_problems(exc.problems, max_problems)
        raise typer.Exit(1) from None
    if report.problems:
        _print_problems(report.problems, max_problems)
        for file, n in report.skipped.items():
            console.print(f"skipped {n:,} row(s) of {file} (lenient)")
    rows = ", ".join(f"{k} {len(v):,}" for k, v in loaded.frames().items())
    console.print(f"[green]valid[/green]: {data} ({rows})")


def _print_problems(problems, max_problems: int) -> None:
    shown = problems if max_problems <= 0 else problems[:max_problems]
    for p in shown:
        print(p)  # plain stdout, one line per problem, greppable
    if len(shown) < len(problems):
        print(f"... {len(problems) - len(shown)} more problem(s) not shown")
    counts = Counter(p.rule for p in problems)
    err_console.print(
        f"[red]{len(problems)} problem(s)[/red]: " + ", ".join(f"{r} {n}" for r, n in counts.most_common())
    )


@app.command()
def summary(
    data: Annotated[Path, typer.Argument(help="Data directory")], config_dir: ConfigDirOpt = None
) -> None:
    """Print rows per entity, date range, deals per stage, conversion and win rates."""
    from funnelcast.features.io import load_crm_data

    cfg = _config(config_dir)
    loaded, _ = load_crm_data(data, cfg.funnel)
    _print_summary(loaded, cfg.funnel)


def _print_summary(loaded, funnel) -> None:
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


@app.command()
def features(
    data: Annotated[Path, typer.Option(help="Data directory")],
    entity: Annotated[str, typer.Option(help="leads or opportunities")],
    as_of: Annotated[str, typer.Option("--as-of", help="ISO 8601 timestamp (naive = UTC)")],
    out: Annotated[Path, typer.Option(help="Output .parquet (or .csv) file")],
    config_dir: ConfigDirOpt = None,
) -> None:
    """Build point-in-time features: one row per lead or opportunity that exists at --as-of."""
    import pandas as pd

    from funnelcast.features.frames import build_lead_features, build_opportunity_features
    from funnelcast.features.io import load_crm_data

    if entity not in ("leads", "opportunities"):
        raise typer.BadParameter(
            f"expected 'leads' or 'opportunities', got {entity!r}", param_hint="--entity"
        )
    try:
        when = pd.Timestamp(as_of)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 timestamp: {as_of!r}", param_hint="--as-of") from None
    when = (when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")).floor("s")
    cfg = _config(config_dir)
    with console.status("loading data"):
        loaded, _ = load_crm_data(data, cfg.funnel)
    frame = loaded.leads if entity == "leads" else loaded.opportunities
    key = "lead_id" if entity == "leads" else "opportunity_id"
    snaps = pd.DataFrame({key: frame.loc[frame["created_at"] <= when, key], "as_of": when}).reset_index(
        drop=True
    )
    with console.status(f"building features for {len(snaps):,} {entity}"):
        build = build_lead_features if entity == "leads" else build_opportunity_features
        table = pd.concat([snaps, build(loaded, snaps, cfg)], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        table.to_csv(out, index=False, encoding="utf-8")
    else:
        table.to_parquet(out, index=False)
    console.print(f"wrote {len(table):,} rows x {table.shape[1] - 2} features to {out}")


train_app = typer.Typer(
    help="Train, evaluate against baselines, and register a model in MLflow.", no_args_is_help=True
)
app.add_typer(train_app, name="train")


def _train(kind: str, data: Path, config_dir: Path | None, register: bool) -> None:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from funnelcast.features.io import load_crm_data
    from funnelcast.training.train import register as register_model
    from funnelcast.training.train import train_model

    cfg = _config(config_dir)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("loading data", total=None)

        def step(msg: str) -> None:
            progress.update(task, description=msg)

        loaded, report = load_crm_data(data, cfg.funnel)
        outcome = train_model(kind, loaded, cfg, progress=step)
        if register:
            register_model(outcome, loaded, report.files, cfg, progress=step)
        step("done")
    _print_metrics(outcome)
    if outcome.version:
        from funnelcast.training.tracking import REGISTERED, tracking_uri

        console.print(
            f"registered [bold]{REGISTERED[kind]}[/bold] version {outcome.version} as 'challenger' "
            f"(run {outcome.run_id}) in {tracking_uri()}"
        )


def _print_metrics(outcome) -> None:
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


@train_app.command("leads")
def train_leads(
    data: Annotated[Path, typer.Option(help="Data directory")],
    register: Annotated[bool, typer.Option(help="Log and register in MLflow")] = True,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Train the lead-grading model (calibrated P(convert within H days) -> Hot / Warm / Cold)."""
    _train("lead", data, config_dir, register)


@train_app.command("opportunities")
def train_opportunities(
    data: Annotated[Path, typer.Option(help="Data directory")],
    register: Annotated[bool, typer.Option(help="Log and register in MLflow")] = True,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Train the win-probability model (P(won) and P(won within 30 / 60 / 90 days))."""
    _train("opportunity", data, config_dir, register)


@app.command()
def promote(
    kind: Annotated[str, typer.Argument(help="leads or opportunities")],
    config_dir: ConfigDirOpt = None,
) -> None:
    """Move 'champion' to the challenger if it is at least as good on the same test period; export it."""
    from funnelcast.training.promote import promote as run_promotion

    kinds = {"leads": "lead", "opportunities": "opportunity"}
    if kind not in kinds:
        raise typer.BadParameter(f"expected 'leads' or 'opportunities', got {kind!r}", param_hint="KIND")
    decision = run_promotion(kinds[kind], _config(config_dir))
    if decision.promoted:
        console.print(
            f"[green]promoted[/green] {decision.name} version {decision.challenger} to champion "
            f"({decision.reason}); exported to {decision.export_dir}"
        )
    else:
        console.print(
            f"[yellow]kept[/yellow] champion version {decision.champion_before} of {decision.name}: "
            f"challenger version {decision.challenger} not promoted because {decision.reason}"
        )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (scoring is CPU-bound: one per core)")
    ] = 1,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Run the scoring API (uvicorn). Settings come from FUNNELCAST_* environment variables."""
    import uvicorn

    from funnelcast.serving.app import create_app
    from funnelcast.serving.settings import ServingSettings

    overrides = {
        k: v for k, v in {"host": host, "port": port, "config_dir": config_dir}.items() if v is not None
    }
    settings = ServingSettings(**overrides)
    # access logs are off: they would carry ids; keys and PII are never logged
    if workers == 1:
        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_level="info", access_log=False
        )
    else:  # each worker builds its own app (and loads its own models) from the same environment
        import os

        if config_dir is not None:
            os.environ["FUNNELCAST_CONFIG_DIR"] = str(config_dir)
        uvicorn.run(
            "funnelcast.serving.app:create_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
        )


@app.command()
def score(
    kind: Annotated[str, typer.Argument(help="leads or opportunities")],
    data: Annotated[Path, typer.Option(help="Data directory")],
    out: Annotated[Path, typer.Option(help="Output .csv or .parquet")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="ISO 8601 (default: now)")] = None,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Score every open lead or deal with the serving model, sorted by priority (same code as the API)."""
    import pandas as pd
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from funnelcast.features.io import load_crm_data
    from funnelcast.serving.bulk import score_data
    from funnelcast.serving.registry import ModelRegistry
    from funnelcast.serving.settings import ServingSettings

    kinds = {"leads": "lead", "opportunities": "opportunity"}
    if kind not in kinds:
        raise typer.BadParameter(f"expected 'leads' or 'opportunities', got {kind!r}", param_hint="KIND")
    when = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    when = (when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")).floor("s")
    cfg = _config(config_dir)
    registry = ModelRegistry(ServingSettings(config_dir=config_dir), cfg)
    result = registry.reload(kinds[kind])
    model = registry.get(kinds[kind])
    if model is None:
        console.print(f"[yellow]no {kinds[kind]} model[/yellow]: {result['message']}")
    with console.status("loading data"):
        loaded, _ = load_crm_data(data, cfg.funnel)
    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("score", total=None)
        table = score_data(
            loaded,
            model,
            kinds[kind],
            cfg,
            when,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        table.to_csv(out, index=False, encoding="utf-8")
    else:
        table.to_parquet(out, index=False)
    version = f"{model.name} version {model.version}" if model else "the BANT rule grade"
    console.print(f"scored {len(table):,} open {kind} as of {when.isoformat()} with {version}; wrote {out}")


def _timestamp(value: str | None, option: str):
    """An ISO 8601 option as a UTC timestamp (naive = UTC), floored to seconds; None -> now."""
    import pandas as pd

    try:
        when = pd.Timestamp.now(tz="UTC") if value is None else pd.Timestamp(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"not an ISO 8601 date or time: {value!r} ({exc})", param_hint=option
        ) from None
    return (when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")).floor("s")


def _load_known(data: Path, cfg, as_of):
    from funnelcast.features.io import load_crm_data
    from funnelcast.features.known import known_at

    with console.status("loading and validating data"):
        loaded, report = load_crm_data(data, cfg.funnel)
    return known_at(loaded, as_of), report


@app.command()
def funnel(
    data: Annotated[Path, typer.Option(help="Data directory")],
    out: Annotated[Path, typer.Option(help="Output directory for funnel.json, funnel.md and the charts")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="ISO 8601 (default: now)")] = None,
    by: Annotated[str | None, typer.Option(help="Break down by owner, pipeline, source or segment")] = None,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Funnel analytics: conversion (snapshot and cohort), dwell and stall thresholds, win rate per stage
    beside its weight, lead conversion, loss reasons, the bottleneck, and the deals to look at."""
    from funnelcast.analytics.funnel import GROUPINGS, funnel_report, to_markdown
    from funnelcast.analytics.outputs import write_funnel

    if by is not None and by not in GROUPINGS:
        raise typer.BadParameter(f"expected one of {', '.join(GROUPINGS)}, got {by!r}", param_hint="--by")
    cfg = _config(config_dir)
    when = _timestamp(as_of, "--as-of")
    known, _ = _load_known(data, cfg, when)
    report = funnel_report(known, cfg, when, by=by)
    paths = write_funnel(report, cfg, out)
    console.print(
        to_markdown(report, cfg) if by is None else f"funnel by {by}: {len(report.stages)} stage rows"
    )
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


@app.command()
def forecast(
    data: Annotated[Path, typer.Option(help="Data directory")],
    as_of: Annotated[str, typer.Option("--as-of", help="Forecast date, ISO 8601")],
    period_end: Annotated[str, typer.Option("--period-end", help="End of the forecast period, ISO 8601")],
    out: Annotated[Path, typer.Option(help="Output directory for forecast.json, forecast.md, the chart")],
    target: Annotated[float | None, typer.Option(min=0, help="Revenue target (base currency)")] = None,
    by: Annotated[str | None, typer.Option(help="Break down by owner or pipeline")] = None,
    draws: Annotated[int, typer.Option(min=10_000, help="Monte Carlo draws")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed of the draws")] = 0,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Won revenue in a period from the deals open at a date: stage weights, historical stage rates and
    the win model side by side, with P10 / P50 / P90 and P(reaching a target)."""
    if by is not None and by not in ("owner", "pipeline"):
        raise typer.BadParameter(f"expected owner or pipeline, got {by!r}", param_hint="--by")
    cfg = _config(config_dir)
    start, end = _timestamp(as_of, "--as-of"), _timestamp(period_end, "--period-end")
    if end <= start:
        raise typer.BadParameter(f"must be after --as-of ({start.isoformat()})", param_hint="--period-end")
    known, _ = _load_known(data, cfg, start)
    _run_forecast(cfg, config_dir, known, start, end, out, target=target, by=by, draws=draws, seed=seed)


def _run_forecast(
    cfg, config_dir, known, start, end, out: Path, *, target=None, by=None, draws=10_000, seed=0
):
    """Forecast with the serving win model (or historical rates without one), write and print it."""
    import pandas as pd

    from funnelcast.analytics.forecast import fan_table, run_rate
    from funnelcast.analytics.forecast import forecast as make_forecast
    from funnelcast.analytics.outputs import forecast_markdown, write_forecast
    from funnelcast.analytics.pipeline_inputs import deal_inputs, period_logit_sd
    from funnelcast.serving.registry import ModelRegistry
    from funnelcast.serving.settings import ServingSettings

    registry = ModelRegistry(ServingSettings(config_dir=config_dir), cfg)
    registry.reload("opportunity")
    model = registry.get("opportunity")
    if model is None:
        console.print(
            "[yellow]no win-probability model is loaded[/yellow]: the distribution uses historical rates"
        )
    with console.status("forecasting"):
        deals = deal_inputs(
            known, start, end, cfg, model.bundle.predict if model else None, model.rates if model else None
        )
        spread = period_logit_sd(
            model.bundle.metadata if model else None, (end - start) / pd.Timedelta(days=1)
        )
        result = make_forecast(
            deals,
            start,
            end,
            target=target,
            draws=draws,
            seed=seed,
            group=by,
            run_rate=run_rate(known, start, end, cfg),
            logit_sd=spread,
        )
        fan = fan_table(deals, start, end, seed=seed, logit_sd=spread)
    if model is not None and pd.Timestamp(model.bundle.metadata.get("data_until", start)) > start:
        result.warnings.append(
            f"the model was trained on data up to {model.bundle.metadata['data_until']}, after "
            "--as-of: this is not a backtest (use `funnelcast backtest` for that)"
        )
    paths = write_forecast(result, fan, out)
    console.print(forecast_markdown(result))
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return result


@app.command()
def backtest(
    data: Annotated[Path, typer.Option(help="Data directory")],
    out: Annotated[Path, typer.Option(help="Output directory for the table and chart")],
    freq: Annotated[str, typer.Option(help="month or quarter")] = "month",
    warmup_days: Annotated[int, typer.Option(min=30, help="History before the first forecast")] = 270,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Forecast each past period with only what was known at its start (a win model retrained on that
    data) and compare with what closed: WAPE per method, P10–P90 coverage, pinball loss; logged to MLflow."""
    from funnelcast.analytics.outputs import backtest_markdown
    from funnelcast.features.io import load_crm_data
    from funnelcast.training.backtest import FREQS, write_and_log
    from funnelcast.training.backtest import backtest as run_backtest

    if freq not in FREQS:
        raise typer.BadParameter(f"expected one of {', '.join(FREQS)}, got {freq!r}", param_hint="--freq")
    cfg = _config(config_dir)
    with console.status("loading and validating data"):
        loaded, report = load_crm_data(data, cfg.funnel)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("backtest", total=None)
        result = run_backtest(
            loaded,
            cfg,
            freq,
            warmup_days=warmup_days,
            progress=lambda done, total, msg: bar.update(task, completed=done, total=total, description=msg),
        )
    paths, run_id = write_and_log(result, freq, out, cfg, report.files)
    console.print(backtest_markdown(result.periods, result.summary, freq))
    for note in result.skipped:
        console.print(f"[yellow]skipped[/yellow] {note}")
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}; MLflow run {run_id}")


@app.command("import")
def import_(
    sources: Annotated[list[Path], typer.Argument(help="Source files (CSV or Excel) named in the mapping")],
    mapping: Annotated[Path, typer.Option(help="Mapping YAML (see configs/mappings/)")],
    out: Annotated[Path, typer.Option(help="Output data directory")],
    max_problems: Annotated[int, typer.Option(help="Problem lines to print")] = 20,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Turn CRM exports into a canonical data directory with a declarative mapping. Rows that cannot be
    imported are reported with the reason and counted; the output passes `funnelcast validate`."""
    from funnelcast.ingest.mapping import load_mapping
    from funnelcast.ingest.run import run_import

    cfg = _config(config_dir)
    spec = load_mapping(mapping)
    with console.status(f"importing with {spec.name}"):
        _, report = run_import(spec, sources, out, cfg.funnel)
    table = Table("entity", "rows written", "rows not imported")
    for entity, n in report.written.items():
        table.add_row(entity, f"{n:,}", f"{report.skipped.get(entity, 0):,}")
    console.print(table)
    for line in report.problems[:max_problems]:
        console.print(f"  {line}", highlight=False, markup=False)
    if len(report.problems) > max_problems:
        console.print(
            f"  ... and {len(report.problems) - max_problems:,} more in {out / 'import_report.json'}"
        )
    console.print(f"read {', '.join(f'{k} {v:,} rows' for k, v in report.source_rows.items())}; wrote {out}")


@app.command(hidden=True)
def docs(config_dir: ConfigDirOpt = None) -> None:
    """Regenerate docs/features.md from the feature definitions."""
    from funnelcast.docgen import render_features_doc

    path = Path(__file__).resolve().parent.parent / "docs" / "features.md"
    path.write_text(render_features_doc(_config(config_dir)), encoding="utf-8")
    console.print(f"wrote {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Demo working directory")] = Path("demo"),
    leads: Annotated[int, typer.Option(min=100, help="Number of generated leads")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    config_dir: ConfigDirOpt = None,
) -> None:
    """The main job end to end on generated data: generate, validate, summarise, train both models
    against their baselines, register them in MLflow and promote them."""
    from funnelcast.features.io import load_crm_data
    from funnelcast.synthetic import generate as make
    from funnelcast.synthetic import write_dataset
    from funnelcast.training.promote import promote as run_promotion
    from funnelcast.training.tracking import tracking_uri
    from funnelcast.training.train import register as register_model
    from funnelcast.training.train import train_model

    cfg = _config(config_dir)
    data_dir = out / "data"
    with console.status("generating demo data") as status:
        crm = make(leads, seed, cfg, progress=lambda msg: status.update(f"generating: {msg}"))
        write_dataset(crm, data_dir)
        status.update("validating")
        loaded, report = load_crm_data(data_dir, cfg.funnel)
    console.print(f"[green]generated and validated[/green] {data_dir}")
    _print_summary(loaded, cfg.funnel)
    for kind in ("lead", "opportunity"):
        with console.status(f"training the {kind} model") as status:
            outcome = train_model(kind, loaded, cfg, progress=lambda m, s=status: s.update(m))
            register_model(outcome, loaded, report.files, cfg, progress=lambda m, s=status: s.update(m))
            decision = run_promotion(kind, cfg)
        _print_metrics(outcome)
        verdict = "promoted to champion" if decision.promoted else "not promoted"
        console.print(f"{decision.name} version {decision.challenger}: {verdict} ({decision.reason})")
    _demo_reports(loaded, cfg, config_dir, out / "reports")
    uri = tracking_uri()
    console.print(
        "\nOpen the MLflow UI on this store:\n"
        f"  .venv/bin/mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000\n"
        "then browse http://127.0.0.1:5000 (experiment 'funnelcast'; models "
        "funnelcast-lead-grading and funnelcast-win-probability)."
    )


def _demo_reports(loaded, cfg, config_dir, out: Path) -> None:
    """The funnel at the end of the data and the forecast of the next calendar quarter, with charts."""
    import pandas as pd

    from funnelcast.analytics.funnel import funnel_report, to_markdown
    from funnelcast.analytics.outputs import write_funnel
    from funnelcast.training.snapshots import observed_until

    end_of_data = observed_until(loaded).ceil("D")
    console.rule("Funnel")
    report = funnel_report(loaded, cfg, end_of_data)
    write_funnel(report, cfg, out / "funnel")
    console.print(to_markdown(report, cfg))
    quarter_end = (
        (end_of_data + pd.offsets.QuarterEnd(1)).normalize() + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    )
    console.rule("Forecast for the next quarter")
    _run_forecast(cfg, config_dir, loaded, end_of_data, quarter_end, out / "forecast", by="pipeline")


def main() -> None:
    """Console entry point: user errors print one clear message, never a traceback."""
    try:
        app()
    except FunnelcastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except Exception as exc:  # never a traceback for the user; the log has it with -v
        logger.debug("unexpected error", exc_info=True)
        print(
            f"internal error: {type(exc).__name__}: {exc} (run with -v for details; please report it)",
            file=sys.stderr,
        )
        sys.exit(3)
