"""The `funnelcast` command line: the Typer app and its entry point. Commands live in modules by
subject; heavy imports happen per command. Entry points configure logging once."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from funnelcast.cli import data, demo, models, reports
from funnelcast.cli.book import book_app, handover, users_app
from funnelcast.core.errors import EXIT_INTERNAL, FunnelcastError

app = typer.Typer(
    help="Funnelcast: lead scoring and deal health for CRM data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
logger = logging.getLogger("funnelcast")


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


app.command()(data.generate)
app.command()(data.validate)
app.command()(data.summary)
app.command()(data.features)
app.command("import")(data.import_)
app.command(hidden=True)(data.docs)
train_app = typer.Typer(
    help="Train, evaluate against baselines, and register a model in MLflow.", no_args_is_help=True
)
train_app.command("leads")(models.train_leads)
train_app.command("opportunities")(models.train_opportunities)
app.add_typer(train_app, name="train")
app.command()(models.promote)
app.command()(models.rollback)
app.command()(models.serve)
app.command()(models.score)
app.command()(reports.funnel)
app.command()(reports.forecast)
app.command()(reports.backtest)
app.command()(demo.demo)
app.add_typer(book_app, name="book")
app.command()(handover)
app.add_typer(users_app, name="users")


def main() -> None:
    """Console entry point: user errors print one clear message, never a traceback."""
    try:
        app()
    except FunnelcastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for detail in exc.details:  # every problem at once, one line each
            where = ", ".join(f"{k} {v}" for k, v in detail.items() if k not in ("field", "message"))
            field = detail.get("field")
            head = ", ".join(p for p in (where, str(field) if field else "") if p)
            print(f"  {head + ': ' if head else ''}{detail.get('message', '')}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except Exception as exc:  # never a traceback for the user; the log has it with -v
        logger.debug("unexpected error", exc_info=True)
        print(
            f"internal error: {type(exc).__name__}: {exc} (run with -v for details; please report it)",
            file=sys.stderr,
        )
        sys.exit(EXIT_INTERNAL)
