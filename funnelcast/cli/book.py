"""`funnelcast book ...`: fill the book from an export, keep it in sync, re-score it, show the leads to
call first. The book is `FUNNELCAST_DATABASE_URL`, else `book.db` in the home directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from funnelcast.cli.common import ConfigDirOpt, config_of, console, data_as_of, err_console
from funnelcast.core.errors import InvalidInput

book_app = typer.Typer(
    help="The book: Funnelcast's copy of the CRM, graded as it changes.", no_args_is_help=True
)
DataOpt = Annotated[Path, typer.Option("--data", help="Data directory (an export or an import's output)")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Score as of this time (default: the data's last event)")
]
UrlOpt = Annotated[
    str | None, typer.Option("--url", help="Book URL (default: FUNNELCAST_DATABASE_URL, else book.db)")
]


def _open(url: str | None):
    from funnelcast.book.db import engine_for, migrate

    engine = engine_for(url)
    migrate(engine)
    return engine


def _scorer(engine, cfg):
    """The book's scorer with the serving models (registry alias, else the local export)."""
    from funnelcast.serving.registry import ModelRegistry
    from funnelcast.serving.regrade import BookScorer
    from funnelcast.serving.settings import ServingSettings

    settings = ServingSettings(rules_only=True)
    registry = ModelRegistry(settings, cfg)
    for r in registry.load_all():
        if r["result"] not in ("swapped", "unchanged"):
            err_console.print(f"[yellow]{r['kind']} model[/yellow]: {r['message']}", highlight=False)
    return BookScorer(engine, registry, cfg, settings.history_min_change)


def _rescore(scorer, as_of: str | None, trigger: str, cause: str) -> dict[str, int]:
    from funnelcast.core.errors import NotReady

    done = {}
    for kind in ("lead", "opportunity"):
        started = time.perf_counter()
        try:
            scorer.work_queue(kind)  # what is queued first (a pass leaves queued records to the queue)
            done[kind] = scorer.rescore_all(kind, trigger, cause, as_of)
        except NotReady:
            err_console.print(f"[yellow]no {kind} model is loaded: {kind}s are not scored[/yellow]")
            done[kind] = 0
            continue
        secs = time.perf_counter() - started
        what = "leads" if kind == "lead" else "deals"
        console.print(f"scored {done[kind]:,} open {what} in {secs:.1f} s", highlight=False)
    return done


@book_app.command()
def migrate(url: UrlOpt = None) -> None:
    """Create the book or bring its schema up to date (the server and the other commands do it too)."""
    from funnelcast.book.db import current_revision

    engine = _open(url)
    console.print(f"the book is at revision {current_revision(engine)}: {engine.url.render_as_string()}")


@book_app.command()
def load(data: DataOpt, as_of: AsOfOpt = None, url: UrlOpt = None, config_dir: ConfigDirOpt = None) -> None:
    """Fill an empty book from a data directory (bulk insert) and score every open lead and deal."""
    from funnelcast.book.load import bulk_insert, is_empty
    from funnelcast.features.io import load_crm_data

    cfg = config_of(config_dir)
    crm, _ = load_crm_data(data, cfg.funnel)
    when = data_as_of(as_of, crm)
    engine = _open(url)
    if not is_empty(engine):
        raise typer.BadParameter(
            "the book already holds data; use `funnelcast book sync` to update it", param_hint="--data"
        )
    started = time.perf_counter()
    counts = bulk_insert(engine, crm)
    console.print(
        f"loaded {sum(counts.values()):,} records in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{n:,} {e}" for e, n in counts.items()),
        highlight=False,
    )
    _rescore(_scorer(engine, cfg), when.isoformat(), "load", "book load")


@book_app.command()
def sync(data: DataOpt, as_of: AsOfOpt = None, url: UrlOpt = None, config_dir: ConfigDirOpt = None) -> None:
    """Bring the book up to a newer export: new records inserted, changed ones updated (replays change
    nothing), and what changed scored anew."""
    from funnelcast.book.load import upsert_all
    from funnelcast.features.io import load_crm_data
    from funnelcast.serving.ingestion import stages_of

    cfg = config_of(config_dir)
    crm, _ = load_crm_data(data, cfg.funnel)
    when = data_as_of(as_of, crm)
    engine = _open(url)
    results = upsert_all(engine, crm, stages_of(cfg), when.isoformat())
    for entity, r in results.items():
        console.print(
            f"{entity}: {r.inserted:,} new, {r.updated:,} changed, {r.unchanged:,} unchanged", highlight=False
        )
    scorer = _scorer(engine, cfg)
    for kind in ("lead", "opportunity"):
        what = "leads" if kind == "lead" else "deals"
        console.print(f"scored {scorer.work_queue(kind):,} {what} anew", highlight=False)


@book_app.command()
def rescore(
    as_of: Annotated[str | None, typer.Option(help="As of this time (default: now)")] = None,
    url: UrlOpt = None,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Score every open lead and deal again (the clock moves grades: decay, staleness, stalls)."""
    from funnelcast.cli.common import timestamp

    cfg = config_of(config_dir)
    when = timestamp(as_of, "--as-of").isoformat() if as_of else None
    _rescore(_scorer(_open(url), cfg), when, "clock", "time passed")


@book_app.command()
def top(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many leads")] = 10,
    owner: Annotated[str | None, typer.Option(help="Only this owner's leads")] = None,
    url: UrlOpt = None,
) -> None:
    """The leads to call first: company, owner, grade and the top reasons in words."""
    print_top(_open(url), limit, owner)


def print_top(engine, limit: int = 10, owner: str | None = None) -> None:
    from rich.table import Table

    from funnelcast.book import reads

    with engine.connect() as conn:
        items, _ = reads.leads(conn, owner=owner, limit=limit)
    table = Table(title=f"The {len(items)} leads to call first", title_justify="left")
    for col in ("#", "company", "owner", "grade", "P(convert)", "why"):
        table.add_column(col, justify="right" if col in ("#", "P(convert)") else "left")
    for i, item in enumerate(items, 1):
        why = "; ".join(r["text"] for r in item["reasons"]["positive"][:2]) or "-"
        p = item["probability"]
        table.add_row(
            str(i),
            item["company"] or item["lead_id"],
            item["owner"] or "-",
            item["grade"] + (" (stale)" if item["stale"] else ""),
            "-" if p is None else f"{p:.0%}",
            why,
        )
    console.print(table)


def handover(
    owner: Annotated[str, typer.Option(help="The rep whose open deals and leads are handed over")],
    to: Annotated[str | None, typer.Option(help="The rep who takes them (without it: only the list)")] = None,
    url: UrlOpt = None,
    config_dir: ConfigDirOpt = None,
) -> None:
    """A leaving rep's pipeline in handover order (stages weighted 75 %+ in person, 50 % by phone, then
    the top of the funnel and the leads); with --to, reassign them in the book (kept in the history)."""
    from rich.table import Table

    from funnelcast.book import handover as handovers
    from funnelcast.serving.regrade import now_text

    cfg = config_of(config_dir)
    weights = {(p.key, st.key): st.weight for p in cfg.funnel.pipelines for st in p.all_stages}
    engine = _open(url)
    with engine.begin() as conn:
        items = handovers.handover_list(conn, owner, weights)
        moved = handovers.reassign(conn, items, owner, to, now_text()) if to else 0
    table = Table(title=f"Handover of {owner}'s pipeline" + (f" to {to}" if to else ""), title_justify="left")
    for col in ("#", "tier", "contact", "what", "name", "stage", "amount", "health / grade"):
        table.add_column(col, justify="right" if col in ("#", "tier", "amount") else "left")
    for item in items:
        table.add_row(
            str(item["order"]),
            str(item["tier"]),
            item["contact"],
            "deal" if item["kind"] == "opportunity" else "lead",
            item["name"] or item["id"],
            item["stage"] or "-",
            "-" if item["amount"] is None else f"{item['amount']:,.0f}",
            item["health"] or item["grade"] or "-",
        )
    console.print(table)
    if to:
        console.print(f"{moved:,} deals and leads now belong to {to} (each move is in the score history)")


users_app = typer.Typer(help="Who may sign in to the workspace (/app).", no_args_is_help=True)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Sign-in name")],
    role: Annotated[str, typer.Option(help="rep (their own leads and deals) or manager (all)")] = "rep",
    owner: Annotated[str | None, typer.Option(help="The CRM owner name a rep works as")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
    url: UrlOpt = None,
) -> None:
    """Add a workspace user (the password is hashed with scrypt; it is asked for unless piped)."""
    from funnelcast.book import users
    from funnelcast.serving.regrade import now_text

    password = _password(password_stdin)
    with _open(url).begin() as conn:
        users.add(conn, username, password, role, owner, now_text())
    console.print(f"added {username} ({role}{', works as ' + owner if owner else ''})", highlight=False)


def _password(from_stdin: bool) -> str:
    import sys

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("password")
def users_password(
    username: Annotated[str, typer.Argument(help="Sign-in name")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
    url: UrlOpt = None,
) -> None:
    """Set a new password for a workspace user."""
    from funnelcast.book import users

    password = _password(password_stdin)
    with _open(url).begin() as conn:
        users.set_password(conn, username, password)
    console.print(f"changed the password of {username}", highlight=False)


@users_app.command("remove")
def users_remove(
    username: Annotated[str, typer.Argument(help="Sign-in name")],
    url: UrlOpt = None,
) -> None:
    """Remove a workspace user (they can no longer sign in)."""
    from funnelcast.book import users

    with _open(url).begin() as conn:
        if not users.remove(conn, username):
            raise InvalidInput(f"no user {username!r}")
    console.print(f"removed {username}", highlight=False)


@users_app.command("list")
def users_list(url: UrlOpt = None) -> None:
    """The workspace's users and roles."""
    from sqlalchemy import select

    from funnelcast.book import tables as t

    with _open(url).connect() as conn:
        for row in conn.execute(
            select(t.users.c.username, t.users.c.role, t.users.c.owner).order_by(t.users.c.username)
        ):
            console.print(f"{row.username}\t{row.role}\t{row.owner or ''}", highlight=False)
