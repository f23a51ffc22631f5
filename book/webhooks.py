"""Webhook subscriptions and their outbox: which deliveries are due (in order per entity: one waits
for the earlier ones of the same lead or deal), and what became of each attempt (retried with
exponential backoff and jitter, failed after the last, replayable)."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, delete, func, select, update

from funnelcast.book import tables as t

STATES = ("pending", "delivered", "failed")


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create(
    conn: Connection, url: str, kinds: list[str], description: str | None, secret: str | None, now: str
) -> dict:
    hook = {
        "id": "wh_" + secrets.token_hex(8),
        "url": url,
        "secret": secret or "whsec_" + secrets.token_urlsafe(32),
        "kinds": sorted(set(kinds)),
        "description": description,
        "created_at": now,
    }
    conn.execute(t.webhooks.insert(), hook)
    return hook


def listed(conn: Connection) -> list[dict]:
    """The subscriptions (secrets are shown once, at creation)."""
    w = t.webhooks.c
    rows = conn.execute(
        select(w.id, w.url, w.kinds, w.description, w.created_at).order_by(w.created_at, w.id)
    )
    return [dict(r._mapping) for r in rows]


def get(conn: Connection, hook_id: str) -> dict | None:
    row = conn.execute(select(t.webhooks).where(t.webhooks.c.id == hook_id)).first()
    return dict(row._mapping) if row else None


def remove(conn: Connection, hook_id: str) -> bool:
    """Delete a subscription; its undelivered deliveries go with it."""
    gone = conn.execute(delete(t.webhooks).where(t.webhooks.c.id == hook_id)).rowcount
    conn.execute(
        delete(t.deliveries).where(t.deliveries.c.webhook_id == hook_id, t.deliveries.c.state != "delivered")
    )
    return bool(gone)


def due(conn: Connection, now: str, limit: int = 100) -> list[dict]:
    """Pending deliveries whose time has come and that no earlier pending delivery of the same webhook
    and entity is waiting for (at least once, in order per entity)."""
    d = t.deliveries.c
    earlier = t.deliveries.alias("earlier")
    e = earlier.c
    blocked = (
        select(e.id)
        .where(
            e.webhook_id == d.webhook_id,
            e.entity == d.entity,
            e.entity_id == d.entity_id,
            e.id < d.id,
            e.state == "pending",
        )
        .exists()
    )
    q = (
        select(t.deliveries, t.webhooks.c.url, t.webhooks.c.secret)
        .join(t.webhooks, t.webhooks.c.id == d.webhook_id)
        .where(d.state == "pending", d.next_attempt_at <= now, ~blocked)
        .order_by(d.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def attempting(
    conn: Connection,
    item: dict,
    now: datetime,
    *,
    base: float,
    cap: float,
    rng: random.Random | None = None,
) -> dict:
    """Count an attempt before it is sent, with the time of the retry should it fail (base x
    2^(attempts-1) seconds, capped, x 0.5-1.5 jitter). A server killed while the request is in flight
    thus retries it after that wait, and the count includes the attempt the receiver may have seen."""
    attempts = item["attempts"] + 1
    wait = min(cap, base * 2 ** (attempts - 1)) * (0.5 + (rng or random).random())
    conn.execute(
        update(t.deliveries)
        .where(t.deliveries.c.id == item["id"])
        .values(attempts=attempts, next_attempt_at=_text(now + timedelta(seconds=wait)))
    )
    return {**item, "attempts": attempts}


def delivered(conn: Connection, delivery_id: int, status: int, now: str) -> None:
    conn.execute(
        update(t.deliveries)
        .where(t.deliveries.c.id == delivery_id)
        .values(state="delivered", delivered_at=now, last_status=status, last_error=None)
    )


def attempt_failed(conn: Connection, item: dict, status: int | None, error: str, *, max_attempts: int) -> str:
    """Record how a counted attempt failed: it stays pending (retried at the time `attempting` set) or
    fails for good after the last attempt. Returns the new state."""
    state = "failed" if item["attempts"] >= max_attempts else "pending"
    conn.execute(
        update(t.deliveries)
        .where(t.deliveries.c.id == item["id"])
        .values(state=state, last_status=status, last_error=error[:500])
    )
    return state


def deliveries(conn: Connection, hook_id: str, state: str | None = None, limit: int = 100) -> list[dict]:
    d = t.deliveries.c
    q = select(
        d.id,
        d.kind,
        d.entity,
        d.entity_id,
        d.created_at,
        d.state,
        d.attempts,
        d.next_attempt_at,
        d.delivered_at,
        d.last_status,
        d.last_error,
        d.payload,
    ).where(d.webhook_id == hook_id)
    if state:
        q = q.where(d.state == state)
    return [dict(r._mapping) for r in conn.execute(q.order_by(d.id.desc()).limit(limit))]


def replay(conn: Connection, hook_id: str, delivery_id: int, now: str) -> bool:
    """Send a delivery again (a failed one after the receiver was fixed, or a delivered one anew)."""
    done = conn.execute(
        update(t.deliveries)
        .where(and_(t.deliveries.c.webhook_id == hook_id, t.deliveries.c.id == delivery_id))
        .values(state="pending", attempts=0, next_attempt_at=now, delivered_at=None)
    )
    return bool(done.rowcount)


def backlog(conn: Connection) -> int:
    return conn.execute(
        select(func.count()).select_from(t.deliveries).where(t.deliveries.c.state == "pending")
    ).scalar()


def now_dt() -> datetime:
    return datetime.now(UTC)
