"""What each workspace page shows, read from the book (and, for the funnel and the forecast, the book's
records handed to the analytics as of the book's clock: the latest as_of of its scores)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, select

from funnelcast.book import reads
from funnelcast.book import tables as t
from funnelcast.core.config import AppConfig
from funnelcast.features.io import CRMData, validate_frames

GRADE_RANK = {"Cold": 0, "Warm": 1, "Hot": 2}
AGE_BUCKETS = {
    "0-30": (0, 30),
    "30-90": (30, 90),
    "90-180": (90, 180),
    "180-365": (180, 365),
    "365+": (365, None),
}


def book_as_of(conn: Connection) -> pd.Timestamp:
    """The book's clock: the time its newest scores are as of (now, for an empty book)."""
    latest = reads.clock(conn)
    return pd.Timestamp(latest) if latest else pd.Timestamp.now(tz="UTC").floor("s")


def _text(moment: pd.Timestamp) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def lead_rows(conn: Connection, f: Filters, *, cursor, limit=50):
    """A page of the lead list with age, grade trend and the top reasons in words."""
    as_of = book_as_of(conn)
    after = before = None
    if f.age in AGE_BUCKETS:
        low, high = AGE_BUCKETS[f.age]
        before = _text(as_of - pd.Timedelta(days=low))
        after = _text(as_of - pd.Timedelta(days=high)) if high else None
    items, nxt = reads.leads(
        conn,
        grade=f.grade,
        owner=f.owner,
        source=f.source,
        stale=f.stale,
        created_after=after,
        created_before=before,
        sort=f.sort,
        limit=limit,
        cursor=cursor,
    )
    changes = reads.grade_changes(conn, [i["lead_id"] for i in items])
    for item in items:
        item["age_days"] = max(0, (pd.Timestamp(item["as_of"]) - pd.Timestamp(item["created_at"])).days)
        change = changes.get(item["lead_id"])
        if change:
            up = GRADE_RANK.get(change["to_grade"], 0) > GRADE_RANK.get(change["from_grade"], 0)
            item["trend"] = {
                "arrow": "▲" if up else "▼",
                "from": change["from_grade"],
                "at": change["at"][:10],
                "up": up,
            }
        else:
            item["trend"] = None
        item["why"] = [r["text"] for r in item["reasons"]["positive"][:2]]
    return items, nxt, as_of


def lead_detail(conn: Connection, lead_id: str) -> dict | None:
    lead = conn.execute(select(t.leads).where(t.leads.c.lead_id == lead_id)).first()
    if lead is None:
        return None
    record = dict(lead._mapping)
    score = reads.lead(conn, lead_id)
    account = None
    if record["account_id"]:
        row = conn.execute(select(t.accounts).where(t.accounts.c.account_id == record["account_id"])).first()
        account = dict(row._mapping) if row else None
    a = t.activities.c
    acts = conn.execute(
        select(a.activity_id, a.occurred_at, a.type, a.entity_type, a.contact_role)
        .where(
            ((a.entity_type == "lead") & (a.entity_id == lead_id))
            | ((a.entity_type == "account") & (a.entity_id == (record["account_id"] or "")))
        )
        .order_by(a.occurred_at.desc())
        .limit(200)
    ).all()
    return {
        "record": record,
        "account": account,
        "score": score,
        "history": reads.history(conn, "lead", lead_id),
        "activities": [dict(r._mapping) for r in acts],
        "duplicates": reads.duplicates(conn, lead_id),
    }


def deal_detail(conn: Connection, opportunity_id: str, config: AppConfig) -> dict | None:
    deal = conn.execute(
        select(t.opportunities).where(t.opportunities.c.opportunity_id == opportunity_id)
    ).first()
    if deal is None:
        return None
    record = dict(deal._mapping)
    entries = conn.execute(
        select(t.stage_history.c.stage, t.stage_history.c.entered_at)
        .where(t.stage_history.c.opportunity_id == opportunity_id)
        .order_by(t.stage_history.c.entered_at)
    ).all()
    pipeline = config.funnel.pipeline(record["pipeline"])
    order = {s.key: i for i, s in enumerate(pipeline.stages)}
    names = {s.key: s.display_name for s in pipeline.all_stages}
    path, last = [], None
    for stage, at in entries:
        idx = order.get(stage, len(pipeline.stages) if stage == pipeline.won_stage.key else None)
        mark, skipped = "", []
        if last is not None and idx is not None:
            if idx < last:
                mark = "regression"
            elif idx > last + 1:
                skipped = [names[s.key] for s in pipeline.stages[last + 1 : idx]]
                mark = "skipped"
        path.append({"stage": names.get(stage, stage), "at": at, "mark": mark, "skipped": skipped})
        last = idx if idx is not None else last
    return {
        "record": record,
        "score": reads.deal(conn, opportunity_id),
        "path": path,
        "history": reads.history(conn, "opportunity", opportunity_id),
        "account": conn.execute(
            select(t.accounts.c.name).where(t.accounts.c.account_id == record["account_id"])
        ).scalar(),
    }


# ------------------------------------------------------------------------ the book as the analytics read it
_CACHE: dict[tuple, tuple[float, object]] = {}
TTL = 60.0


def _cached(key: tuple, make):
    hit = _CACHE.get(key)
    if hit and time.monotonic() - hit[0] < TTL:
        return hit[1]
    value = make()
    _CACHE[key] = (time.monotonic(), value)
    for old in [k for k, (at, _) in _CACHE.items() if time.monotonic() - at > TTL]:
        _CACHE.pop(old, None)
    return value


def choices(conn: Connection, table, columns: tuple[str, ...], as_of: pd.Timestamp) -> tuple[list, ...]:
    """The values a filter offers (owners, sources), kept for a minute: each is a scan of an index."""

    def make():
        return tuple(
            sorted(filter(None, conn.execute(select(table.c[c]).distinct()).scalars())) for c in columns
        )

    return _cached(("choices", table.name, columns, as_of), make)


def crm_data(
    conn: Connection, config: AppConfig, activities: str = "all", as_of: pd.Timestamp | None = None
) -> CRMData:
    """The book's records as the analytics take them (typed as a data export would be). `activities`:
    "all", "none" (the funnel reads none) or "open deals" (the forecast's features read only those of
    the deals open at `as_of` and of their accounts): on a large book the activities are most of the
    rows."""
    raw = {}
    for name, table in t.ENTITY_TABLES.items():
        q = select(*[c for c in table.c if c.name not in ("custom", "updated_at")])
        if name == "activities" and activities != "all":
            a, o = table.c, t.opportunities.c
            q = (
                q.where(False)
                if activities == "none"
                else q.where(
                    (
                        (a.entity_type == "opportunity")
                        & a.entity_id.in_(select(o.opportunity_id).where(o.outcome == "open"))
                    )
                    | (
                        (a.entity_type == "account")
                        & a.entity_id.in_(select(o.account_id).where(o.outcome == "open"))
                    )
                )
            )
        frame = pd.read_sql(q, conn)
        raw[name] = frame.astype(object).where(frame.notna(), "").astype(str)
    data, _ = validate_frames(raw, config.funnel, lenient=True)
    return data


@dataclass
class Filters:
    owner: str | None = None
    grade: str | None = None
    source: str | None = None
    stale: bool | None = None
    age: str | None = None
    sort: str = "priority"

    @property
    def stale_arg(self) -> str:
        """The stale filter as the form and the query string say it."""
        return {True: "yes", False: "no"}.get(self.stale, "")

    def query(self) -> dict[str, str]:
        """The filters in force, as query parameters (for the next page and the CSV link)."""
        given = dict(
            owner=self.owner, grade=self.grade, source=self.source, stale=self.stale_arg, age=self.age
        )
        return {k: v for k, v in {**given, "sort": self.sort}.items() if v}
