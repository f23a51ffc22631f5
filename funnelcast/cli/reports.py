"""Report commands: the funnel, the revenue forecast and its backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from funnelcast.cli.common import ConfigDirOpt, config_of, console, data_as_of, timestamp
from funnelcast.features.known import known_at


def load_data(data: Path, cfg):
    from funnelcast.features.io import load_crm_data

    with console.status("loading and validating data"):
        return load_crm_data(data, cfg.funnel)


def funnel(
    data: Annotated[Path, typer.Option(help="Data directory")],
    out: Annotated[Path, typer.Option(help="Output directory for funnel.json, funnel.md and the charts")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO 8601 (default: the data's last event)")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Break down by owner, pipeline, source or segment")] = None,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Funnel analytics: conversion (snapshot and cohort), dwell and stall thresholds, win rate per stage
    beside its weight, lead conversion, loss reasons, the bottleneck, and the deals to look at."""
    from funnelcast.analytics.funnel import GROUPINGS, funnel_report, to_markdown
    from funnelcast.analytics.outputs import write_funnel

    if by is not None and by not in GROUPINGS:
        raise typer.BadParameter(f"expected one of {', '.join(GROUPINGS)}, got {by!r}", param_hint="--by")
    cfg = config_of(config_dir)
    loaded, _ = load_data(data, cfg)
    when = data_as_of(as_of, loaded)
    report = funnel_report(known_at(loaded, when), cfg, when, by=by)
    paths = write_funnel(report, cfg, out)
    console.print(
        to_markdown(report, cfg) if by is None else f"funnel by {by}: {len(report.stages)} stage rows"
    )
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


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
    cfg = config_of(config_dir)
    start, end = timestamp(as_of, "--as-of"), timestamp(period_end, "--period-end")
    if end <= start:
        raise typer.BadParameter(f"must be after --as-of ({start.isoformat()})", param_hint="--period-end")
    loaded, _ = load_data(data, cfg)
    data_as_of(as_of, loaded)  # warns when --as-of is after the data's last event
    run_forecast(
        cfg,
        config_dir,
        known_at(loaded, start),
        start,
        end,
        out,
        target=target,
        by=by,
        draws=draws,
        seed=seed,
    )


def run_forecast(
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
    cfg = config_of(config_dir)
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
