"""Model commands: train, promote, serve, bulk-score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from funnelcast.cli.common import (
    ConfigDirOpt,
    config_of,
    console,
    data_as_of,
    err_console,
    print_metrics,
    write_table,
)


def _train(kind: str, data: Path, config_dir: Path | None, register: bool) -> None:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from funnelcast.features.io import load_crm_data
    from funnelcast.training.register import register as register_model
    from funnelcast.training.train import train_model

    cfg = config_of(config_dir)
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
    print_metrics(outcome)
    if outcome.version:
        from funnelcast.training.tracking import REGISTERED, tracking_uri

        console.print(
            f"registered [bold]{REGISTERED[kind]}[/bold] version {outcome.version} as 'challenger' "
            f"(run {outcome.run_id}) in {tracking_uri()}"
        )


def train_leads(
    data: Annotated[Path, typer.Option(help="Data directory")],
    register: Annotated[bool, typer.Option(help="Log and register in MLflow")] = True,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Train the lead-grading model (calibrated P(convert within H days) -> Hot / Warm / Cold)."""
    _train("lead", data, config_dir, register)


def train_opportunities(
    data: Annotated[Path, typer.Option(help="Data directory")],
    register: Annotated[bool, typer.Option(help="Log and register in MLflow")] = True,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Train the win-probability model (P(won) and P(won within 30 / 60 / 90 days))."""
    _train("opportunity", data, config_dir, register)


def promote(
    kind: Annotated[str, typer.Argument(help="leads or opportunities")],
    version: Annotated[
        int | None, typer.Option(min=1, help="Put this registered version back as champion (a rollback)")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why: recorded on the version (tags)")] = None,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Move 'champion' to the challenger if it is at least as good on the same test period; export it.
    With --version N, put version N back as champion (checked, recorded with --reason)."""
    from funnelcast.training.promote import promote as run_promotion

    decision = run_promotion(
        _kind(kind),
        config_of(config_dir),
        version=str(version) if version is not None else None,
        reason=reason,
    )
    _say(decision)


def rollback(
    kind: Annotated[str, typer.Argument(help="leads or opportunities")],
    reason: Annotated[str | None, typer.Option(help="Why: recorded on the version (tags)")] = None,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Put back the champion before the current one (after the same checks); record when and why."""
    from funnelcast.training.promote import rollback as run_rollback

    _say(run_rollback(_kind(kind), config_of(config_dir), reason))


def _kind(kind: str) -> str:
    kinds = {"leads": "lead", "opportunities": "opportunity"}
    if kind not in kinds:
        raise typer.BadParameter(f"expected 'leads' or 'opportunities', got {kind!r}", param_hint="KIND")
    return kinds[kind]


def _say(decision) -> None:
    if decision.promoted:
        before = f" (was version {decision.champion_before})" if decision.champion_before else ""
        console.print(
            f"[green]champion[/green] of {decision.name} is version {decision.challenger}{before}: "
            f"{decision.reason}; exported to {decision.export_dir}",
            highlight=False,
        )
    else:
        console.print(
            f"[yellow]kept[/yellow] champion version {decision.champion_before} of {decision.name}: "
            f"challenger version {decision.challenger} not promoted because {decision.reason}",
            highlight=False,
        )


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 8000)")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (scoring is CPU-bound: one per core)")
    ] = 1,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Run the scoring API (uvicorn). Settings come from FUNNELCAST_* environment variables."""
    import uvicorn
    from pydantic import ValidationError

    from funnelcast.core.errors import InvalidInput
    from funnelcast.serving.app import create_app
    from funnelcast.serving.settings import ServingSettings

    overrides = {
        k: v for k, v in {"host": host, "port": port, "config_dir": config_dir}.items() if v is not None
    }
    try:
        settings = ServingSettings(**overrides)
    except ValidationError as exc:  # a FUNNELCAST_* variable out of range: say which, exit 2
        problems = "; ".join(
            f"FUNNELCAST_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"invalid server settings: {problems}") from None
    # uvicorn's own access log is off (it would log paths with ids); ours is one JSON line per request
    # with the route template, status, duration, request id and which key, never a key or a body
    common = {"log_level": "info", "access_log": False, "log_config": log_config()}
    if workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **common)
    else:  # each worker builds its own app (and loads its own models) from the same environment
        import os

        if config_dir is not None:
            os.environ["FUNNELCAST_CONFIG_DIR"] = str(config_dir)
        if settings.session_secret is None:  # one secret for all workers: a session works on any
            import secrets

            os.environ["FUNNELCAST_SESSION_SECRET"] = secrets.token_hex(32)
        uvicorn.run(
            "funnelcast.serving.app:create_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            **common,
        )


def _score_on_spark(kind, data, out, model, cfg, as_of, master, remote, shards) -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        from funnelcast.core.errors import InvalidInput

        raise InvalidInput("--engine spark needs pyspark: pip install 'funnelcast[spark]'") from None
    from funnelcast.cli.common import timestamp
    from funnelcast.serving.spark import score_with_spark, session

    when = timestamp(as_of, "--as-of") if as_of else None
    with console.status("starting Spark"):
        spark = session(master, remote, quiet=True)
    try:
        with console.status("scoring on Spark (its progress is in the Spark UI)"):
            run = score_with_spark(spark, data, out, kind, model, cfg, when, shards)
    finally:
        spark.stop()
    for warning in run.warnings:
        err_console.print(f"[yellow]warning[/yellow]: {warning}", highlight=False)
    version = f"{model.name} version {model.version}" if model else "the BANT rule grade"
    said = "" if as_of else " (the data's last event)"
    console.print(
        f"scored {run.rows:,} open {'leads' if kind == 'lead' else 'opportunities'} as of "
        f"{run.as_of.isoformat()}{said} with {version} on Spark ({run.shards} shards); wrote {out}"
    )


def log_config() -> dict:
    """uvicorn's logging set-up plus Funnelcast's: the service's messages beside uvicorn's, and the
    access log as bare JSON lines on stderr."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["json_line"] = {"format": "%(message)s"}
    config["handlers"]["access_json"] = {
        "class": "logging.StreamHandler",
        "formatter": "json_line",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["funnelcast"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["funnelcast.access"] = {
        "handlers": ["access_json"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def score(
    kind: Annotated[str, typer.Argument(help="leads or opportunities")],
    data: Annotated[Path, typer.Option(help="Data directory")],
    out: Annotated[Path, typer.Option(help="Output .csv or .parquet")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO 8601 (default: the data's last event)")
    ] = None,
    engine: Annotated[
        str, typer.Option(help="pandas (this process) or spark (a Spark cluster; writes a Parquet folder)")
    ] = "pandas",
    master: Annotated[
        str | None, typer.Option(help="Spark master: local[2] (default), spark://host:7077, yarn ...")
    ] = None,
    remote: Annotated[str | None, typer.Option(help="Spark Connect address, e.g. sc://host:15002")] = None,
    shards: Annotated[
        int | None,
        typer.Option(min=1, help="Spark: groups of accounts scored together (default 16 per core)"),
    ] = None,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Score every open lead or deal with the serving model, sorted by priority (same code as the API).
    With --engine spark the data directory (local, hdfs://, s3a:// ...) is read and scored by Spark."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from funnelcast.features.io import load_crm_data
    from funnelcast.serving.bulk import score_data
    from funnelcast.serving.registry import ModelRegistry
    from funnelcast.serving.settings import ServingSettings

    kinds = {"leads": "lead", "opportunities": "opportunity"}
    if kind not in kinds:
        raise typer.BadParameter(f"expected 'leads' or 'opportunities', got {kind!r}", param_hint="KIND")
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise typer.BadParameter(f"expected a .csv or .parquet file, got {out.name!r}", param_hint="--out")
    if engine not in ("pandas", "spark"):
        raise typer.BadParameter(f"expected 'pandas' or 'spark', got {engine!r}", param_hint="--engine")
    if engine == "spark" and out.suffix.lower() != ".parquet":
        raise typer.BadParameter("Spark writes a Parquet folder: give --out NAME.parquet", param_hint="--out")
    cfg = config_of(config_dir)
    registry = ModelRegistry(ServingSettings(config_dir=config_dir), cfg)
    result = registry.reload(kinds[kind])
    model = registry.get(kinds[kind])
    if model is None:
        console.print(f"[yellow]no {kinds[kind]} model[/yellow]: {result['message']}")
    if engine == "spark":
        _score_on_spark(kinds[kind], str(data), str(out), model, cfg, as_of, master, remote, shards)
        return
    with console.status("loading data"):
        loaded, _ = load_crm_data(data, cfg.funnel)
    when = data_as_of(as_of, loaded)
    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("score", total=None)
        scored = score_data(
            loaded,
            model,
            kinds[kind],
            cfg,
            when,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    write_table(scored.table, out)
    for warning in scored.warnings:
        err_console.print(f"[yellow]warning[/yellow]: {warning}", highlight=False)
    version = f"{model.name} version {model.version}" if model else "the BANT rule grade"
    console.print(
        f"scored {len(scored.table):,} open {kind} as of {when.isoformat()} with {version}; wrote {out}"
    )
