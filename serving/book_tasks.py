"""The book's background work in the server: open and migrate it, work off the re-score queue (what an
ingestion could not score, e.g. before a model was loaded, or left by a crash), re-score everything
when the clock has moved grades or a new model is served."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os

import pandas as pd
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from funnelcast.book import tables as t
from funnelcast.book.db import checkpoint, engine_for, migrate
from funnelcast.book.leader import Leadership
from funnelcast.core.errors import NotReady
from funnelcast.serving.models import KINDS
from funnelcast.serving.regrade import BookScorer
from funnelcast.serving.workspace import snapshots

logger = logging.getLogger(__name__)
QUEUE_SECONDS = 2.0  # how often the queue is looked at
CHECKPOINT_SECONDS = 0.2  # the log stays a few thousand pages long under ingestion
OPEN_RETRY_SECONDS = 5.0
QUEUE_GRACE_SECONDS = 5.0  # queue entries younger than this belong to an ingestion still scoring them
ANALYTICS_SECONDS = 30.0  # how often the workspace's funnel and forecast are looked at
CHILD_POLL_SECONDS = 0.25
ANALYTICS_NICENESS = 10  # the pass takes what CPU the workers leave


def open_book(app: FastAPI) -> None:
    """Open (and migrate) the book; on failure the routes answer 503 naming why, /readyz too."""
    state = app.state
    try:
        engine = engine_for(background_checkpoints=True)
        migrate(engine)
    except Exception as exc:  # unreachable server, bad URL, unwritable file: said, not raised
        state.book, state.book_problem = None, f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        logger.error("the book could not be opened: %s", state.book_problem)
        return
    settings = state.settings
    state.book = BookScorer(
        engine,
        state.registry,
        state.registry.config,
        settings.history_min_change,
        cooldown=settings.alert_cooldown_minutes * 60,
    )
    state.book_problem = None
    state.metrics.watch_book(state.book)


def _stale_model(book: BookScorer, kind: str) -> str | None:
    """The version the book's scores of `kind` were made with, when it is not the one served now."""
    model = book.registry.get(kind)
    if model is None:
        return None
    version = f"{model.name}:{model.version}"
    table = t.lead_scores if kind == "lead" else t.deal_scores
    with book.engine.connect() as conn:
        other = conn.execute(
            select(table.c.model_version).where(table.c.model_version != version).limit(1)
        ).scalar()
    return other


def model_pass(app: FastAPI, kind: str) -> int:
    """Re-score every open lead (deal) of the book whose score came from another model."""
    book = app.state.book
    old = _stale_model(book, kind) if book is not None else None
    if old is None:
        return 0
    model = book.registry.get(kind)
    n = book.rescore_all(kind, "model", f"model {old} -> {model.name}:{model.version}")
    app.state.metrics.book_rescored.labels(kind, "model").inc(n)
    return n


def clock_pass(app: FastAPI) -> None:
    book = app.state.book
    for kind in KINDS:
        try:
            n = book.rescore_all(kind, "clock", "time passed")
            app.state.metrics.book_rescored.labels(kind, "clock").inc(n)
        except NotReady:
            return


def queue_pass(app: FastAPI) -> None:
    """Score what ingestions left queued (no model then, a failure, a crash), leaving alone what was
    queued in the last few seconds: an ingestion is scoring it now."""
    book = app.state.book
    before = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=QUEUE_GRACE_SECONDS)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    for kind in KINDS:
        n = book.work_queue(kind, queued_before=before)
        if n:
            app.state.metrics.book_rescored.labels(kind, "event").inc(n)


def is_leader(app: FastAPI) -> bool:
    """Whether this worker does the book's background work (see funnelcast.book.leader); False until
    the book is open."""
    book = getattr(app.state, "book", None)
    if book is None:
        return False
    leader = getattr(app.state, "leader", None)
    if leader is None or leader.engine is not book.engine:
        leader = app.state.leader = Leadership(book.engine)
    try:
        return leader.try_take()
    except Exception:  # the store is unreachable: nobody leads from here until it answers
        logger.debug("leadership not taken", exc_info=True)
        return False


async def checkpoints(app: FastAPI) -> None:
    """Keep the SQLite log short off the request path (see `engine_for`)."""
    while True:
        book = getattr(app.state, "book", None)  # None until the book is open
        if book is not None and await run_in_threadpool(is_leader, app):
            try:
                await run_in_threadpool(checkpoint, book.engine)
            except asyncio.CancelledError:
                raise
            except Exception:  # a busy or unreachable store: the next second tries again
                logger.debug("checkpoint skipped", exc_info=True)
        await asyncio.sleep(CHECKPOINT_SECONDS)


def analytics_due(app: FastAPI) -> bool:
    """Whether the workspace's default funnel and forecast views are due to be computed again
    (funnelcast.serving.workspace.snapshots.due)."""
    book = app.state.book
    with book.engine.connect() as conn:
        model = book.registry.get("opportunity")
        return snapshots.due(conn, model, app.state.settings.analytics_refresh_minutes)


class ChildFailed(RuntimeError):
    def __init__(self, name: str, exitcode: int | None):
        signalled = exitcode is not None and exitcode < 0  # e.g. a stop signal sent to the whole group
        said = f"was ended by signal {-exitcode}" if signalled else f"ended with exit code {exitcode}"
        super().__init__(f"{name} {said}")


def _niced(niceness: int, target, *args) -> None:
    os.nice(niceness)
    target(*args)


async def in_child(target, *args, niceness: int = 0) -> None:
    """Run `target(*args)` in a new process (spawned: nothing of this one's threads or locks is
    copied), `niceness` lower in the CPU's favour, and wait for it without blocking the event loop;
    cancelled, the child is killed."""
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_niced, args=(niceness, target, *args), daemon=True)
    child.start()
    try:
        while child.is_alive():
            await asyncio.sleep(CHILD_POLL_SECONDS)
    finally:
        if child.is_alive():
            child.kill()
        child.join(timeout=10)
    if child.exitcode != 0:
        raise ChildFailed(target.__qualname__, child.exitcode)


async def analytics_pass(app: FastAPI) -> bool:
    """Compute the workspace's default views again when due, in a child process; True when it did."""
    if not await run_in_threadpool(analytics_due, app):
        return False
    book, settings = app.state.book, app.state.settings
    url = book.engine.url.render_as_string(hide_password=False)
    model = book.registry.get("opportunity")
    started = asyncio.get_running_loop().time()
    await in_child(
        snapshots.refresh_book,
        url,
        book.config,
        model,
        settings.analytics_refresh_minutes,
        niceness=ANALYTICS_NICENESS,  # the workers serving requests and ingestion come first
    )
    took = asyncio.get_running_loop().time() - started
    logger.info("workspace funnel and forecast computed again in %.1f s (in a child process)", took)
    return True


async def analytics(app: FastAPI, models_loaded: asyncio.Event) -> None:
    """The leader keeps the workspace's funnel and forecast fresh, off the request path (a page opens
    what is stored). Started after the models load: the forecast uses the win model."""
    await models_loaded.wait()
    while True:
        book = getattr(app.state, "book", None)
        if book is not None and app.state.settings.analytics_refresh_minutes > 0:
            try:
                if await run_in_threadpool(is_leader, app):
                    await analytics_pass(app)
            except asyncio.CancelledError:
                raise
            except ChildFailed as exc:  # its own traceback, if any, is in the log already
                logger.warning("workspace analytics pass: %s; trying again", exc)
            except Exception:  # a store hiccup must not end the loop: logged, tried again
                logger.exception("workspace analytics pass failed; trying again")
        await asyncio.sleep(ANALYTICS_SECONDS)


async def run(app: FastAPI, models_loaded: asyncio.Event) -> None:
    """The book's loop: after the models load, bring scores up to the served models, then work the
    queue every few seconds and re-score everything every `rescore_minutes`."""
    await run_in_threadpool(open_book, app)
    while app.state.book is None:  # an unreachable server or a locked file: tried again, said by /readyz
        await asyncio.sleep(OPEN_RETRY_SECONDS)
        await run_in_threadpool(open_book, app)
    await models_loaded.wait()
    settings = app.state.settings
    loop = asyncio.get_running_loop()
    next_clock = loop.time() + settings.rescore_minutes * 60 if settings.rescore_minutes > 0 else None
    while True:
        try:
            if not await run_in_threadpool(is_leader, app):
                pass  # another worker of this server does the book's background work
            elif app.state.registry.ready:
                for kind in KINDS:
                    if app.state.book_model_due.pop(kind, None) or not app.state.book_checked.get(kind):
                        await run_in_threadpool(model_pass, app, kind)
                        app.state.book_checked[kind] = True
                await run_in_threadpool(queue_pass, app)
                if next_clock is not None and loop.time() >= next_clock:
                    await run_in_threadpool(clock_pass, app)
                    next_clock = loop.time() + settings.rescore_minutes * 60
        except asyncio.CancelledError:
            raise
        except NotReady:
            pass
        except Exception:  # a store hiccup must not end the loop: logged, tried again
            logger.exception("book background pass failed; trying again")
        await asyncio.sleep(QUEUE_SECONDS)
