"""Reading the book for the CRM and the workspace: one lead (deal) with its latest score, a filtered
list in priority order with stable cursor pagination (keyset on priority and id: a page costs the
same on page 1 and page 10,000), and the score history."""

from __future__ import annotations

import base64
import json

from sqlalchemy import Connection, select, tuple_

from funnelcast.book import tables as t
from funnelcast.core.errors import InvalidInput

LEAD_WHO = (
    "company",
    "account_id",
    "contact_name",
    "contact_title",
    "created_at",
    "converted_at",
    "disqualified_at",
)


def encode_cursor(priority: float, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([priority, key]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, number: bool = True) -> tuple[float | str, str]:
    """The (sort value, id) a page ended at; the value is a number (priority) or text (a time)."""
    try:
        value, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return (float(value) if number else str(value)), str(key)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidInput(
            "cursor is not one this API gave out",
            [{"field": "cursor", "message": "pass the next_cursor of the previous page unchanged"}],
        ) from None


def _lead_row(r) -> dict:
    m = r._mapping
    company = m["company"] or m["account_name"]
    return {
        **m["result"],
        "owner": m["owner"],
        "source": m["source"],
        "company": company,
        "contact_title": m["contact_title"],
        "contact_name": m["contact_name"],
        "created_at": m["created_at"],
        "grade_since": m["grade_since"],
        "as_of": m["as_of"],
        "scored_at": m["scored_at"],
        "model_version": m["model_version"],
    }


def _lead_query():
    s, lead, acc = t.lead_scores, t.leads, t.accounts
    return select(
        s.c.result,
        s.c.owner,
        s.c.source,
        s.c.grade_since,
        s.c.as_of,
        s.c.scored_at,
        s.c.model_version,
        s.c.priority,
        s.c.lead_id,
        lead.c.company,
        lead.c.contact_title,
        lead.c.contact_name,
        lead.c.created_at,
        acc.c.name.label("account_name"),
    ).select_from(
        s.join(lead, lead.c.lead_id == s.c.lead_id).outerjoin(acc, acc.c.account_id == lead.c.account_id)
    )


def clock(conn: Connection) -> str | None:
    """The book's clock: the time its newest scores are as of (None before anything was scored)."""
    return conn.execute(select(t.clock.c.as_of).where(t.clock.c.name == "scores")).scalar()


def lead(conn: Connection, lead_id: str) -> dict | None:
    """The lead's latest score with who it is, or None when the book has no score for it."""
    row = conn.execute(_lead_query().where(t.lead_scores.c.lead_id == lead_id)).first()
    if row is None:
        return None
    out = _lead_row(row)
    out["duplicates"] = duplicate_counts(conn, [lead_id]).get(lead_id, 0)
    return out


def lead_state(conn: Connection, lead_id: str) -> str | None:
    """Why a lead has no score: `unknown`, `converted`, `disqualified` or `pending`; None if it has one."""
    row = conn.execute(
        select(t.leads.c.converted_at, t.leads.c.disqualified_at).where(t.leads.c.lead_id == lead_id)
    ).first()
    if row is None:
        return "unknown"
    if row.converted_at is not None:
        return "converted"
    if row.disqualified_at is not None:
        return "disqualified"
    return "pending"


def leads(
    conn: Connection,
    *,
    grade: str | None = None,
    owner: str | None = None,
    source: str | None = None,
    stale: bool | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
    sort: str = "priority",
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict], str | None]:
    """A page of scored leads and the cursor of the next page: highest priority first (ties by id),
    or newest / oldest first by creation. Keyset pages: page 10,000 costs what page 1 costs."""
    s, lead = t.lead_scores.c, t.leads.c
    q = _lead_query()
    for column, value in ((s.grade, grade), (s.owner, owner), (s.source, source), (s.stale, stale)):
        if value is not None:
            q = q.where(column == value)
    if created_after is not None:
        q = q.where(lead.created_at >= created_after)
    if created_before is not None:
        q = q.where(lead.created_at < created_before)
    by, key = (s.priority, s.lead_id) if sort == "priority" else (lead.created_at, lead.lead_id)
    ascending = sort == "oldest"
    if cursor:
        value, last = decode_cursor(cursor, number=sort == "priority")
        q = q.where(
            tuple_(by, key) > tuple_(value, last) if ascending else tuple_(by, key) < tuple_(value, last)
        )
    order = (by.asc(), key.asc()) if ascending else (by.desc(), key.desc())
    rows = conn.execute(q.order_by(*order).limit(limit + 1)).all()
    page = rows[:limit]
    nxt = None
    if len(rows) > limit:
        last_row = page[-1]._mapping
        value = last_row["priority"] if sort == "priority" else last_row["created_at"]
        nxt = encode_cursor(value, last_row["lead_id"])
    items = [_lead_row(r) for r in page]
    counts = duplicate_counts(conn, [i["lead_id"] for i in items])
    for item in items:
        item["duplicates"] = counts.get(item["lead_id"], 0)
    return items, nxt


def grade_changes(conn: Connection, lead_ids: list[str]) -> dict[str, dict]:
    """Each lead's last grade change: {from_grade, to_grade, at, trigger} (none for a first grade)."""
    h = t.score_history.c
    out: dict[str, dict] = {}
    if not lead_ids:
        return out
    rows = conn.execute(
        select(h.entity_id, h.from_grade, h.to_grade, h.at, h.trigger)
        .where(
            h.kind == "lead", h.entity_id.in_(lead_ids), h.from_grade.is_not(None), h.from_grade != h.to_grade
        )
        .order_by(h.entity_id, h.id.desc())
    )
    for r in rows:
        out.setdefault(
            r.entity_id,
            {"from_grade": r.from_grade, "to_grade": r.to_grade, "at": r.at, "trigger": r.trigger},
        )
    return out


def _deal_row(r) -> dict:
    m = r._mapping
    return {
        **m["result"],
        "account": m["account_name"],
        "owner": m["owner"],
        "pipeline": m["pipeline"],
        "amount": m["amount"],
        "health_since": m["health_since"],
        "as_of": m["as_of"],
        "scored_at": m["scored_at"],
        "model_version": m["model_version"],
    }


def _deal_query():
    s, acc, opp = t.deal_scores, t.accounts, t.opportunities
    return select(
        s.c.result,
        s.c.owner,
        s.c.pipeline,
        s.c.amount,
        s.c.health_since,
        s.c.as_of,
        s.c.scored_at,
        s.c.model_version,
        s.c.priority,
        s.c.opportunity_id,
        acc.c.name.label("account_name"),
    ).select_from(
        s.join(opp, opp.c.opportunity_id == s.c.opportunity_id).outerjoin(
            acc, acc.c.account_id == opp.c.account_id
        )
    )


def deal(conn: Connection, opportunity_id: str) -> dict | None:
    row = conn.execute(_deal_query().where(t.deal_scores.c.opportunity_id == opportunity_id)).first()
    return _deal_row(row) if row is not None else None


def deal_state(conn: Connection, opportunity_id: str) -> str | None:
    row = conn.execute(
        select(t.opportunities.c.outcome).where(t.opportunities.c.opportunity_id == opportunity_id)
    ).first()
    if row is None:
        return "unknown"
    return row.outcome if row.outcome != "open" else "pending"


def deals(
    conn: Connection,
    *,
    health: str | None = None,
    owner: str | None = None,
    pipeline: str | None = None,
    stage: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict], str | None]:
    """A page of scored open deals, most at risk x amount first, and the cursor of the next page."""
    s = t.deal_scores.c
    q = _deal_query()
    for column, value in ((s.health, health), (s.owner, owner), (s.pipeline, pipeline), (s.stage, stage)):
        if value is not None:
            q = q.where(column == value)
    if cursor:
        priority, key = decode_cursor(cursor)
        q = q.where(tuple_(s.priority, s.opportunity_id) < tuple_(priority, key))
    rows = conn.execute(q.order_by(s.priority.desc(), s.opportunity_id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    nxt = encode_cursor(page[-1].priority, page[-1].opportunity_id) if len(rows) > limit else None
    return [_deal_row(r) for r in page], nxt


def history(conn: Connection, kind: str, entity_id: str, limit: int = 1000) -> list[dict]:
    """Every recorded change of a lead's grade (a deal's health), oldest first."""
    h = t.score_history.c
    q = (
        select(
            h.at,
            h.from_grade,
            h.to_grade,
            h.from_score,
            h.to_score,
            h.trigger,
            h.cause,
            h.model_version,
            h.reasons,
        )
        .where(h.kind == kind, h.entity_id == entity_id)
        .order_by(h.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def duplicates(conn: Connection, lead_id: str) -> list[dict]:
    """The open leads and accounts of the same customer as this lead, who works them, and the evidence
    (what they share: company, email_domain, phone)."""
    d = t.duplicates.c
    found = conn.execute(
        select(d.other_entity, d.other_id, d.evidence, d.found_at)
        .where(d.lead_id == lead_id)
        .order_by(d.other_entity, d.other_id)
    ).all()
    out = []
    for r in found:
        if r.other_entity == "lead":
            row = conn.execute(
                select(t.leads.c.company, t.leads.c.owner, t.leads.c.created_at, t.lead_scores.c.grade)
                .select_from(t.leads.outerjoin(t.lead_scores, t.lead_scores.c.lead_id == t.leads.c.lead_id))
                .where(t.leads.c.lead_id == r.other_id)
            ).first()
            name, owners, since, grade = (
                (row.company, [row.owner] if row.owner else [], row.created_at, row.grade)
                if row
                else (None, [], None, None)
            )
        else:
            name = conn.execute(
                select(t.accounts.c.name).where(t.accounts.c.account_id == r.other_id)
            ).scalar()
            owners = sorted(
                set(
                    conn.execute(
                        select(t.opportunities.c.owner).where(
                            t.opportunities.c.account_id == r.other_id, t.opportunities.c.outcome == "open"
                        )
                    ).scalars()
                )
            )
            since, grade = None, None
        out.append(
            {
                "entity": r.other_entity,
                "id": r.other_id,
                "name": name,
                "owners": owners,
                "evidence": r.evidence.split("+"),
                "grade": grade,
                "created_at": since,
                "found_at": r.found_at,
            }
        )
    return out


def duplicate_counts(conn: Connection, lead_ids: list[str]) -> dict[str, int]:
    from sqlalchemy import func

    d = t.duplicates.c
    if not lead_ids:
        return {}
    rows = conn.execute(select(d.lead_id, func.count()).where(d.lead_id.in_(lead_ids)).group_by(d.lead_id))
    return {r[0]: r[1] for r in rows}
