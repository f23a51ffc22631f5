"""Reading what a score needs from the book: leads (deals) by id with their account, activities and
histories, as plain rows. The scorer turns them into the API's request types."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from funnelcast.book import tables as t
from funnelcast.book.sql import among, chunks, plain_rows


@dataclass
class LeadRecords:
    leads: list[dict]
    accounts: dict[str, dict]
    activities: dict[str, list[tuple]] = field(default_factory=dict)  # lead id -> ACTIVITY_COLUMNS rows
    account_activities: dict[str, list[tuple]] = field(default_factory=dict)  # account id -> the same


@dataclass
class DealRecords:
    deals: list[dict]
    accounts: dict[str, dict]
    stages: dict[str, list[dict]]
    close_dates: dict[str, list[dict]]
    amounts: dict[str, list[dict]]
    activities: dict[str, list[tuple]]  # ACTIVITY_COLUMNS rows
    account_activities: dict[str, list[tuple]]


# an activity as a re-score reads it: the fields of the API's Activity, in its order
ACTIVITY_COLUMNS = ("activity_id", "occurred_at", "type", "value", "contact_id", "contact_role")


def _rows(conn: Connection, table, column: str, ids: Sequence[str], order: str | None = None) -> list[dict]:
    out = []
    col = table.c[column]
    for part in chunks(sorted(set(ids))):
        q = select(table).where(among(conn, col, part))
        if order:
            q = q.order_by(col, table.c[order])
        keys, rows = plain_rows(conn, q)
        out += [dict(zip(keys, row, strict=True)) for row in rows]
    return out


def _activities(conn: Connection, entity_type: str, ids: Sequence[str]) -> dict[str, list[tuple]]:
    """entity id -> its activities in time order, each a tuple of ACTIVITY_COLUMNS and then the entity
    id (read from the covering index `ix_activities_entity` alone)."""
    out: dict[str, list[tuple]] = defaultdict(list)
    a = t.activities
    for part in chunks(sorted(set(ids))):
        q = (
            select(*[a.c[c] for c in ACTIVITY_COLUMNS], a.c.entity_id)
            .where(a.c.entity_type == entity_type, among(conn, a.c.entity_id, part))
            .order_by(a.c.entity_id, a.c.occurred_at, a.c.activity_id)
        )
        for row in plain_rows(conn, q)[1]:
            out[row[-1]].append(row)
    return out


def _grouped(rows: list[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def lead_records(conn: Connection, ids: Sequence[str]) -> LeadRecords:
    leads = _rows(conn, t.leads, "lead_id", ids)
    account_ids = [r["account_id"] for r in leads if r["account_id"]]
    accounts = {r["account_id"]: r for r in _rows(conn, t.accounts, "account_id", account_ids)}
    return LeadRecords(
        leads,
        accounts,
        _activities(conn, "lead", [r["lead_id"] for r in leads]),
        _activities(conn, "account", list(accounts)),
    )


def deal_records(conn: Connection, ids: Sequence[str]) -> DealRecords:
    deals = _rows(conn, t.opportunities, "opportunity_id", ids)
    found = [r["opportunity_id"] for r in deals]
    accounts = {
        r["account_id"]: r for r in _rows(conn, t.accounts, "account_id", [d["account_id"] for d in deals])
    }
    return DealRecords(
        deals,
        accounts,
        _grouped(_rows(conn, t.stage_history, "opportunity_id", found, "entered_at"), "opportunity_id"),
        _grouped(_rows(conn, t.close_date_history, "opportunity_id", found, "changed_at"), "opportunity_id"),
        _grouped(_rows(conn, t.amount_history, "opportunity_id", found, "changed_at"), "opportunity_id"),
        _activities(conn, "opportunity", found),
        _activities(conn, "account", list(accounts)),
    )


def open_ids(
    conn: Connection, kind: str, as_of: str | None = None, after: str | None = None, limit: int = 5000
) -> list[str]:
    """Ids of the leads (deals) open now (or at `as_of`: created by then, not closed by then), in id
    order after `after`: a clock or model pass walks the book with it, page by page."""
    if kind == "lead":
        leads = t.leads.c
        key = leads.lead_id
        if as_of is None:
            where = [leads.converted_at.is_(None), leads.disqualified_at.is_(None)]
        else:
            where = [
                leads.created_at <= as_of,
                leads.converted_at.is_(None) | (leads.converted_at > as_of),
                leads.disqualified_at.is_(None) | (leads.disqualified_at > as_of),
            ]
    else:
        deals = t.opportunities.c
        key = deals.opportunity_id
        if as_of is None:
            where = [deals.outcome == "open"]
        else:
            where = [deals.created_at <= as_of, deals.closed_at.is_(None) | (deals.closed_at > as_of)]
    if after is not None:
        where.append(key > after)
    return list(conn.execute(select(key).where(*where).order_by(key).limit(limit)).scalars())
