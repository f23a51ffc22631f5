"""Sending alerts: the outbox worked off by the server, each delivery POSTed as JSON with an
HMAC-SHA256 signature over its timestamp and body (replay protection: a receiver refuses old
timestamps), retried with backoff until it succeeds or its last attempt fails. At least once, in order
per lead or deal; it survives restarts because the outbox is in the book."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time

import httpx
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from funnelcast.book import webhooks
from funnelcast.serving.book_tasks import is_leader

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.5
SIGNATURE = "X-Funnelcast-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` with the subscription's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, tolerance: float = 300.0) -> bool:
    """What a receiver checks (documented; used by the tests' receiver): the signature matches and the
    timestamp is recent."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def body_of(item: dict) -> bytes:
    return json.dumps(
        {"id": item["id"], "kind": item["kind"], "created_at": item["created_at"], "data": item["payload"]},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


async def send_one(client: httpx.AsyncClient, item: dict) -> tuple[int | None, str | None]:
    body = body_of(item)
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Funnelcast-Event": item["kind"],
        "X-Funnelcast-Delivery": str(item["id"]),
        "X-Funnelcast-Timestamp": str(stamp),
        SIGNATURE: sign(item["secret"], stamp, body),
    }
    try:
        reply = await client.post(item["url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]
    return reply.status_code, None if 200 <= reply.status_code < 300 else f"HTTP {reply.status_code}"


def _due(book) -> list[dict]:
    with book.engine.connect() as conn:
        return webhooks.due(conn, webhooks._text(webhooks.now_dt()))


def _attempting(book, item: dict, settings) -> dict:
    with book.engine.begin() as conn:
        return webhooks.attempting(
            conn,
            item,
            webhooks.now_dt(),
            base=settings.webhook_backoff_seconds,
            cap=settings.webhook_max_backoff_seconds,
        )


def _outcome(book, item: dict, status: int | None, error: str | None, settings) -> None:
    with book.engine.begin() as conn:
        if error is None:
            webhooks.delivered(conn, item["id"], status, webhooks._text(webhooks.now_dt()))
        else:
            state = webhooks.attempt_failed(
                conn, item, status, error, max_attempts=settings.webhook_max_attempts
            )
            if state == "failed":
                logger.warning("delivery %s to %s failed for good: %s", item["id"], item["webhook_id"], error)


async def run(app: FastAPI) -> None:
    """Work off the outbox while the server runs."""
    settings = app.state.settings
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as client:
        while True:
            book = app.state.book
            try:
                lead = book is not None and await run_in_threadpool(is_leader, app)
                items = await run_in_threadpool(_due, book) if lead else []  # one worker delivers
                sent_for = set()
                for item in items:  # one at a time per entity: order holds within a pass too
                    key = (item["webhook_id"], item["entity"], item["entity_id"])
                    if key in sent_for:
                        continue
                    sent_for.add(key)
                    item = await run_in_threadpool(_attempting, book, item, settings)
                    status, error = await send_one(client, item)
                    await run_in_threadpool(_outcome, book, item, status, error, settings)
                    app.state.metrics.deliveries.labels(
                        item["kind"], "delivered" if error is None else "retry"
                    ).inc()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store hiccup must not end deliveries: logged, tried again
                logger.exception("webhook delivery pass failed; trying again")
            await asyncio.sleep(POLL_SECONDS)
