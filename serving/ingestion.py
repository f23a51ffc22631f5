"""Keeping the book from the CRM's batches: validate (times, references, stages: every problem at once),
write in one transaction with the re-score queue, then score what the batch touched with the serving
models. A batch that cannot be scored now (no model loaded) stays queued and is scored once one is."""

from __future__ import annotations

import logging

import numpy as np
from pydantic import BaseModel

from funnelcast.book import alerts, writes
from funnelcast.core.config import AppConfig
from funnelcast.core.errors import NotReady
from funnelcast.core.times import parse_instants
from funnelcast.serving.regrade import BookScorer, now_text

logger = logging.getLogger(__name__)

# body key -> book entity, and the time fields of its records
ENTITIES = {
    "accounts": ("accounts", ()),
    "leads": ("leads", ("created_at", "timeline_date", "converted_at", "disqualified_at")),
    "opportunities": ("opportunities", ("created_at", "expected_close_date", "closed_at")),
    "activities": ("activities", ("occurred_at",)),
    "stage_changes": ("stage_history", ("entered_at",)),
    "close_date_changes": ("close_date_history", ("changed_at", "expected_close_date")),
    "amount_changes": ("amount_history", ("changed_at",)),
}


def instant_text(seconds: np.ndarray) -> list[str]:
    """Canonical UTC text of epoch seconds (the book's one form: `2025-05-20T09:30:00Z`)."""
    stamps = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")
    return [text + "Z" for text in np.datetime_as_string(stamps, unit="s").tolist()]


def rows_of(key: str, items: list[BaseModel]) -> list[dict]:
    """The batch's records as book rows, every time checked (a 422 naming each bad one) and put in
    the book's one form."""
    _, times = ENTITIES[key]
    rows = [item.model_dump() for item in items]
    for column in times:
        present = [i for i, r in enumerate(rows) if r.get(column) is not None]
        if not present:
            continue
        seconds = parse_instants(
            [rows[i][column] for i in present], lambda j, c=column, at=present: f"{key}.{at[j]}.{c}"
        )
        for i, text in zip(present, instant_text(seconds), strict=True):
            rows[i][column] = text
    return rows


def duplicate_alert(found: tuple[str, str, str, str], at: str) -> alerts.Alert:
    lead_id, other_entity, other_id, evidence = found
    return alerts.Alert(
        "duplicate_lead",
        "lead",
        lead_id,
        {
            "lead_id": lead_id,
            "at": at,
            "matches": other_entity,
            "match_id": other_id,
            "evidence": evidence.split("+"),
        },
    )


def stages_of(config: AppConfig) -> dict[str, set[str]]:
    return {p.key: set(p.stage_keys) for p in config.funnel.pipelines}


def ingest(
    scorer: BookScorer, config: AppConfig, key: str, items: list[BaseModel], as_of: str | None
) -> dict:
    """Write one batch, then score what it touched; the answer comes after both. The batch and the
    queue entries of what it touched are one transaction (acknowledged once committed: a crash after
    it loses no re-score, the queue is worked at the next start); the scores are computed outside
    any write transaction, so concurrent batches score in parallel, and saved in a second short one.
    What cannot be scored now (no model ready, or a scoring failure, which is logged) stays queued for
    a later pass."""
    entity, _ = ENTITIES[key]
    rows = rows_of(key, items)
    when = instant_text(parse_instants([as_of], lambda _: "as_of"))[0] if as_of is not None else None
    now = now_text()
    rescored, queued = {}, 0
    with scorer.writing() as conn:
        result = writes.write_batch(conn, entity, rows, now=now, as_of=when, stages=stages_of(config))
        changed_leads = result.causes.get("lead", {}) if entity == "leads" else {}
        fresh = [d for d in result.duplicates if d[0] in changed_leads]
        if fresh and scorer.cooldown is not None:  # a new lead of a customer someone already works
            found = [duplicate_alert(d, when or now) for d in fresh]
            alerts.record(conn, found, [], now=now, cooldown_seconds=scorer.cooldown)
    for kind, causes in result.causes.items():
        rescored[kind] = 0
        if not causes:
            continue
        try:
            ids = sorted(causes)
            scorer.score(kind, ids, when, "event", causes, tickets=dict.fromkeys(ids, now))
            rescored[kind] = len(causes)
        except NotReady:
            queued += len(causes)
        except Exception:  # a scoring bug must not lose the batch: stored, queued, logged
            logger.exception("scoring after ingestion failed; %d %s(s) queued", len(causes), kind)
            queued += len(causes)
    return {
        "entity": key,
        "received": result.received,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rescored": rescored,
        "queued": queued,
        "as_of": when,
    }
