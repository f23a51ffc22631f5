"""Writing to the book: idempotent upserts by id, each batch one transaction, and the leads and deals
a batch touches queued for a new score in that same transaction (so a crash after the commit loses
no re-score: the queue is worked off at the next start).

A replayed record is a no-op; a changed one is an update. References are checked against the book
before anything is written: every problem at once, nothing half-written."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, or_, select

from funnelcast.book import tables as t
from funnelcast.book.matching import refresh
from funnelcast.book.sql import among, chunks, execute_many, plain_rows
from funnelcast.book.sql import upsert_statement as _insert
from funnelcast.core.errors import InvalidInput

# what each entity is keyed by, and the columns compared to tell an update from a replay
KEYS = {
    "accounts": ("account_id",),
    "leads": ("lead_id",),
    "activities": ("activity_id",),
    "opportunities": ("opportunity_id",),
    "stage_history": ("opportunity_id", "entered_at", "stage"),
    "close_date_history": ("opportunity_id", "changed_at"),
    "amount_history": ("opportunity_id", "changed_at"),
}


@dataclass
class WriteResult:
    """What one batch did: rows received, inserted, updated, unchanged (replays); the leads and deals
    queued for a new score."""

    entity: str
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    touched: dict[str, set[str]] = field(default_factory=lambda: {"lead": set(), "opportunity": set()})
    causes: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> id -> what changed
    duplicates: list[tuple[str, str, str, str]] = field(default_factory=list)  # new (lead, entity, id, why)


def existing(conn: Connection, table: Table, column: str, values: Iterable[str]) -> set[str]:
    """Which of `values` are in `table.column`."""
    values = sorted({v for v in values if v is not None})
    found: set[str] = set()
    col = table.c[column]
    for part in chunks(values):
        found.update(r[0] for r in plain_rows(conn, select(col).where(among(conn, col, part)))[1])
    return found


def upsert(conn: Connection, entity: str, rows: list[dict], now: str) -> tuple[list[tuple], list[tuple]]:
    """Insert new rows, update changed ones, leave equal ones alone. Returns the keys inserted and the
    keys updated."""
    table = t.ENTITY_TABLES[entity]
    keys = KEYS[entity]
    if not rows:
        return [], []
    if "updated_at" in table.c:
        rows = [{**r, "updated_at": now} for r in rows]
    rows = list({tuple(r[k] for k in keys): r for r in rows}.values())  # the last of a repeated key wins
    key_cols = [table.c[k] for k in keys]
    before: set[tuple] = set()
    wanted = {tuple(r[k] for k in keys) for r in rows}
    # by the key's first column (its index), the rest compared here: a row-value IN would scan the table
    firsts = sorted({k[0] for k in wanted})
    for part in chunks(firsts):
        found = plain_rows(conn, select(*key_cols).where(among(conn, key_cols[0], part)))[1]
        before.update(key for key in (tuple(r) for r in found) if key in wanted)
    compared = [c.name for c in table.c if c.name not in keys and c.name != "updated_at"]
    stmt = _insert(conn, table)  # one cached statement, executed for many rows (insertmanyvalues)
    if compared:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={
                c: stmt.excluded[c] for c in [*compared, *(["updated_at"] if "updated_at" in table.c else [])]
            },
            where=or_(*[table.c[c].is_distinct_from(stmt.excluded[c]) for c in compared]),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    if not before:  # all new (the writer holds the write lock): no need to be told which rows changed
        execute_many(conn, stmt, rows)
        return [tuple(r[k] for k in keys) for r in rows], []
    changed = [tuple(r) for r in conn.execute(stmt.returning(*key_cols), rows)]
    inserted = [k for k in changed if k not in before]
    updated = [k for k in changed if k in before]
    return inserted, updated


def check_references(conn: Connection, entity: str, rows: list[dict], stages: dict[str, set[str]]) -> None:
    """Every reference of the batch names a record the book (or this batch) holds, and every stage is
    one of its deal's pipeline: else one 422 listing each row at fault."""
    problems: list[dict] = []

    def need(column: str, table: Table, key: str, label: str, only=None) -> None:
        wanted = [
            (i, r[column])
            for i, r in enumerate(rows)
            if r.get(column) is not None and (only is None or only(r))
        ]
        known = existing(conn, table, key, [v for _, v in wanted])
        problems.extend(
            {
                "field": f"{entity}.{i}.{column}",
                "message": f"unknown {label} {v!r}: send it to the book first",
            }
            for i, v in wanted
            if v not in known
        )

    if entity == "leads":
        need("account_id", t.accounts, "account_id", "account")
    elif entity == "opportunities":
        need("account_id", t.accounts, "account_id", "account")
        need("lead_id", t.leads, "lead_id", "lead")
        for i, r in enumerate(rows):
            if r["pipeline"] not in stages:
                problems.append(
                    {
                        "field": f"{entity}.{i}.pipeline",
                        "message": f"unknown pipeline {r['pipeline']!r} (configured: {sorted(stages)})",
                    }
                )
    elif entity == "activities":
        for kind, table, key in (
            ("lead", t.leads, "lead_id"),
            ("opportunity", t.opportunities, "opportunity_id"),
            ("account", t.accounts, "account_id"),
        ):
            need("entity_id", table, key, kind, only=lambda r, k=kind: r["entity_type"] == k)
    elif entity in ("stage_history", "close_date_history", "amount_history"):
        ids = sorted({r["opportunity_id"] for r in rows})
        pipelines: dict[str, str] = {}
        for part in chunks(ids):
            q = select(t.opportunities.c.opportunity_id, t.opportunities.c.pipeline)
            found = conn.execute(q.where(among(conn, t.opportunities.c.opportunity_id, part)))
            pipelines.update((row[0], row[1]) for row in found)
        for i, r in enumerate(rows):
            pipeline = pipelines.get(r["opportunity_id"])
            if pipeline is None:
                problems.append(
                    {
                        "field": f"{entity}.{i}.opportunity_id",
                        "message": f"unknown opportunity {r['opportunity_id']!r}: send it to the book first",
                    }
                )
            elif entity == "stage_history" and r["stage"] not in stages.get(pipeline, set()):
                problems.append(
                    {
                        "field": f"{entity}.{i}.stage",
                        "message": f"stage {r['stage']!r} is not in pipeline {pipeline!r} "
                        f"(stages: {sorted(stages.get(pipeline, set()))})",
                    }
                )
    if problems:
        raise InvalidInput(
            f"{len(problems)} reference(s) the book does not hold; nothing was written", problems
        )


def touched_by(
    conn: Connection, entity: str, keys: list[tuple], rows_by_key: dict[tuple, dict]
) -> dict[str, dict[str, list[tuple]]]:
    """The leads and deals whose score a change of these records can move (open or not: the scorer
    decides), each with the changed records that touch it (kind -> id -> keys)."""
    out: dict[str, dict[str, list[tuple]]] = {"lead": {}, "opportunity": {}}

    def add(kind: str, entity_id: str, key: tuple) -> None:
        out[kind].setdefault(entity_id, []).append(key)

    by_account: dict[str, list[tuple]] = {}
    for key in keys:
        if entity == "leads":
            add("lead", key[0], key)
        elif entity in ("opportunities", "stage_history", "close_date_history", "amount_history"):
            add("opportunity", key[0], key)
        elif entity == "accounts":
            by_account.setdefault(key[0], []).append(key)
        else:
            row = rows_by_key[key]
            if row["entity_type"] == "lead":
                add("lead", row["entity_id"], key)
            elif row["entity_type"] == "opportunity":
                add("opportunity", row["entity_id"], key)
            else:
                by_account.setdefault(row["entity_id"], []).append(key)
    for part in chunks(sorted(by_account)):
        for kind, table, key_col in (
            ("lead", t.leads, t.leads.c.lead_id),
            ("opportunity", t.opportunities, t.opportunities.c.opportunity_id),
        ):
            found = conn.execute(
                select(key_col, table.c.account_id).where(among(conn, table.c.account_id, part))
            )
            for entity_id, account in found:
                for key in by_account[account]:
                    add(kind, entity_id, key)
    return out


def enqueue(conn: Connection, touched: dict[str, dict[str, str]], now: str, as_of: str | None) -> None:
    """Queue these leads and deals (kind -> id -> cause) for a new score as of `as_of` (None: as of the
    time it is computed)."""
    stmt = _insert(conn, t.pending)
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "entity_id"],
        set_={"since": stmt.excluded.since, "as_of": stmt.excluded.as_of, "cause": stmt.excluded.cause},
    )
    for kind, causes in touched.items():
        rows = [
            {"kind": kind, "entity_id": i, "since": now, "as_of": as_of, "cause": causes[i]}
            for i in sorted(causes)
        ]
        execute_many(conn, stmt, rows)


def describe(entity: str, keys: list[tuple], rows_by_key: dict[tuple, dict]) -> str:
    """A short account of what changed, for the score history: `activity E1 (web_visit), ...`."""
    what = {
        "accounts": "account",
        "leads": "lead record",
        "opportunities": "deal record",
        "activities": "activity",
        "stage_history": "stage change",
        "close_date_history": "close-date change",
        "amount_history": "amount change",
    }[entity]
    parts = []
    for key in keys[:3]:
        row = rows_by_key[key]
        if entity == "activities":
            parts.append(f"{what} {row['activity_id']} ({row['type']}, {row['occurred_at']})")
        elif entity == "stage_history":
            parts.append(f"{what} {row['opportunity_id']} -> {row['stage']} ({row['entered_at']})")
        else:
            parts.append(f"{what} {' / '.join(str(k) for k in key)}")
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return ", ".join(parts) + more


def write_batch(
    conn: Connection,
    entity: str,
    rows: list[dict],
    *,
    now: str,
    as_of: str | None,
    stages: dict[str, set[str]],
) -> WriteResult:
    """Check and upsert one batch in the caller's transaction, and queue the leads and deals it
    touched (the queue entry is also the ticket a score of them must still hold to be saved)."""
    check_references(conn, entity, rows, stages)
    keys = KEYS[entity]
    rows_by_key = {tuple(r[k] for k in keys): r for r in rows}
    inserted, updated = upsert(conn, entity, rows, now)
    changed = inserted + updated
    result = WriteResult(
        entity,
        received=len(rows),
        inserted=len(inserted),
        updated=len(updated),
        unchanged=len(rows_by_key) - len(changed) + (len(rows) - len(rows_by_key)),
    )
    touched = touched_by(conn, entity, changed, rows_by_key)
    causes = {
        kind: {i: describe(entity, ks, rows_by_key) for i, ks in found.items()}
        for kind, found in touched.items()
    }
    result.touched = {kind: set(found) for kind, found in touched.items()}
    result.causes = causes
    if entity in ("leads", "accounts") and changed:
        result.duplicates = refresh(conn, entity, sorted({k[0] for k in changed}), now)
    enqueue(conn, causes, now, as_of)
    return result


def pending_rows(
    conn: Connection,
    kind: str,
    limit: int,
    ids: Sequence[str] | None = None,
    queued_before: str | None = None,
) -> list[dict]:
    """Queued work of one kind, oldest first (or for these ids; or queued before a time, so a pass
    leaves alone what an ingestion is scoring right now)."""
    q = select(t.pending).where(t.pending.c.kind == kind)
    if ids is not None:
        q = q.where(among(conn, t.pending.c.entity_id, list(ids)))
    if queued_before is not None:
        q = q.where(t.pending.c.since < queued_before)
    return [dict(r._mapping) for r in conn.execute(q.order_by(t.pending.c.since).limit(limit))]


def current(
    conn: Connection, kind: str, ids: Sequence[str], tickets: dict[str, str] | None, read_at: str
) -> set[str]:
    """Which of these scores, computed from what the book held when `read_at` began, may be saved.
    With `tickets` (id -> the `since` of the queue entry the score answers): those whose entry is
    still that one (a later batch replaced it: its own score, read after it, will include this
    batch; an entry gone was answered by a score read later). Without (a clock or model pass): those
    with nothing queued and no score saved since the read began."""
    p = t.pending.c
    queued: dict[str, str] = {}
    for part in chunks(sorted(set(ids))):
        found = conn.execute(
            select(p.entity_id, p.since).where(p.kind == kind, among(conn, p.entity_id, part))
        )
        queued.update((i, since) for i, since in found)
    if tickets is not None:
        return {i for i in ids if i in queued and queued[i] == t.instant_text(tickets.get(i))}
    table, key = (t.lead_scores, "lead_id") if kind == "lead" else (t.deal_scores, "opportunity_id")
    later: set[str] = set()
    for part in chunks(sorted(set(ids) - set(queued))):
        later.update(
            conn.execute(
                select(table.c[key]).where(among(conn, table.c[key], part), table.c.scored_at > read_at)
            ).scalars()
        )
    return {i for i in ids if i not in queued and i not in later}


def done(conn: Connection, kind: str, tickets: dict[str, str]) -> None:
    """Remove the queue entries these scores answered (id -> since), unless a newer ingestion queued
    them again meanwhile (it moved `since`)."""
    by_since: dict[str, list[str]] = {}
    for i, since in tickets.items():
        by_since.setdefault(since, []).append(i)
    for since, ids in by_since.items():
        for part in chunks(sorted(ids)):
            conn.execute(
                t.pending.delete().where(
                    t.pending.c.kind == kind,
                    among(conn, t.pending.c.entity_id, part),
                    t.pending.c.since == since,
                )
            )
