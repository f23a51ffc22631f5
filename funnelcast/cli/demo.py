"""`funnelcast demo`: the main job end to end on generated data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from funnelcast.cli.common import (
    ConfigDirOpt,
    config_of,
    console,
    print_metrics,
    print_summary,
)
from funnelcast.cli.reports import run_forecast


def demo(
    out: Annotated[Path, typer.Option(help="Demo working directory")] = Path("demo"),
    leads: Annotated[int, typer.Option(min=100, help="Number of generated leads")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    config_dir: ConfigDirOpt = None,
) -> None:
    """The main job end to end on generated data: generate, validate, summarise, train both models
    against their baselines, register them in MLflow and promote them. Everything it writes stays in
    --out: the data, the MLflow store and the exported champions (it is the demo's FUNNELCAST_HOME)."""
    import os

    from funnelcast.core.paths import HOME_ENV
    from funnelcast.features.io import load_crm_data
    from funnelcast.synthetic import generate as make
    from funnelcast.synthetic import write_dataset
    from funnelcast.training.promote import promote as run_promotion
    from funnelcast.training.register import register as register_model
    from funnelcast.training.tracking import tracking_uri
    from funnelcast.training.train import train_model

    cfg = config_of(config_dir)
    out.mkdir(parents=True, exist_ok=True)
    os.environ[HOME_ENV] = str(out.resolve())
    data_dir = out / "data"
    with console.status("generating demo data") as status:
        crm = make(leads, seed, cfg, progress=lambda msg: status.update(f"generating: {msg}"))
        write_dataset(crm, data_dir)
        status.update("validating")
        loaded, report = load_crm_data(data_dir, cfg.funnel)
    console.print(f"[green]generated and validated[/green] {data_dir}")
    print_summary(loaded, cfg.funnel)
    for kind in ("lead", "opportunity"):
        with console.status(f"training the {kind} model") as status:
            outcome = train_model(kind, loaded, cfg, progress=lambda m, s=status: s.update(m))
            register_model(outcome, loaded, report.files, cfg, progress=lambda m, s=status: s.update(m))
            decision = run_promotion(kind, cfg)
        print_metrics(outcome)
        verdict = "promoted to champion" if decision.promoted else "not promoted"
        console.print(f"{decision.name} version {decision.challenger}: {verdict} ({decision.reason})")
    _demo_reports(loaded, cfg, config_dir, out / "reports")
    _demo_backtest(loaded, cfg, report.files, out / "reports" / "backtest")
    engine = _demo_book(loaded, cfg, out)
    logins = _demo_users(engine, loaded)
    uri = tracking_uri()
    console.print(
        "\nServe the demo's models and book:\n"
        f"  FUNNELCAST_HOME={out} funnelcast serve\n"
        "then open the workspace at http://127.0.0.1:8000/app and sign in as\n"
        + "".join(f"  {name} / {password}   ({what})\n" for name, password, what in logins)
        + "(API docs at http://127.0.0.1:8000/docs)\n"
        "Open the MLflow UI on its store (experiment 'funnelcast'; models funnelcast-lead-grading and "
        "funnelcast-win-probability):\n"
        f"  mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"
    )


def _demo_book(loaded, cfg, out: Path) -> None:
    """Fill the demo's book (book.db in --out, made afresh) as of the data's last event, score it with
    the champions, and show the leads to call first."""
    from funnelcast.book.db import engine_for, migrate
    from funnelcast.book.load import bulk_insert
    from funnelcast.cli.book import _rescore, _scorer, print_top

    console.rule("The book")
    for suffix in ("", "-wal", "-shm"):
        (out / f"book.db{suffix}").unlink(missing_ok=True)
    engine = engine_for(f"sqlite:///{(out / 'book.db').resolve()}")
    migrate(engine)
    with console.status("loading the book"):
        counts = bulk_insert(engine, loaded)
    console.print(f"the book holds {sum(counts.values()):,} records ({out / 'book.db'})", highlight=False)
    as_of = loaded.last_event().floor("s").isoformat()
    with console.status("scoring every open lead and deal"):
        _rescore(_scorer(engine, cfg), as_of, "load", "book load")
    print_top(engine, 10)
    return engine


def _demo_backtest(loaded, cfg, files, out: Path) -> None:
    """The forecast backtest by quarter (shown on the workspace's forecast page)."""
    from funnelcast.training.backtest import backtest, write_and_log

    with console.status("backtesting the forecast by quarter"):
        result = backtest(loaded, cfg, "quarter", warmup_days=270)
        write_and_log(result, "quarter", out, cfg, files)
    console.print(f"forecast backtest: {len(result.periods)} quarters, table in {out}", highlight=False)


def _demo_users(engine, loaded) -> list[tuple[str, str, str]]:
    """A manager and a rep (the owner with the most open leads) for the workspace, with fresh passwords."""
    import secrets

    from funnelcast.book import users
    from funnelcast.serving.regrade import now_text

    leads = loaded.leads
    open_owner = (
        leads.loc[leads["converted_at"].isna() & leads["disqualified_at"].isna(), "owner"].mode().iloc[0]
    )
    logins = [
        ("manager", secrets.token_urlsafe(9), "manager: sees everything"),
        ("rep", secrets.token_urlsafe(9), f"rep working as {open_owner}"),
    ]
    with engine.begin() as conn:
        users.add(conn, "manager", logins[0][1], "manager", None, now_text())
        users.add(conn, "rep", logins[1][1], "rep", str(open_owner), now_text())
    return logins


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
    run_forecast(cfg, config_dir, loaded, end_of_data, quarter_end, out / "forecast", by="pipeline")
