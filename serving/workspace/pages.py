"""What each workspace page shows, read from the book (and, for the funnel and the forecast, the book's
records handed to the analytics as of the book's clock: the latest as_of of its scores)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, literal_column, select

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


READ_ROWS = 20_000  # rows a statement reads on SQLite (see `crm_data`)
READ_ORDER = (  # children before their parents: what a child read names, the later parent read holds
    "activities",
    "stage_history",
    "close_date_history",
    "amount_history",
    "opportunities",
    "leads",
    "accounts",
)


def crm_data(
    conn: Connection, config: AppConfig, activities: str = "all", as_of: pd.Timestamp | None = None
) -> CRMData:
    """The book's records as the analytics take them (typed as a data export would be). `activities`:
    "all", "none" (the funnel reads none) or "open deals" (the forecast's features read only those of
    the deals open at `as_of` and of their accounts): on a large book the activities are most of the
    rows.

    On SQLite every statement reads at most `READ_ROWS` rows: while one statement reads, the book's log
    cannot start over; whole-table reads let it grow to 850 MiB (405 without them) and slowed
    ingestion meanwhile by a third (docs/workspace.md). Tables are read children first, so every
    record a read names is in a later read; a record written meanwhile may be seen in its newer
    state."""
    raw = {}
    for name in READ_ORDER:
        table = t.ENTITY_TABLES[name]
        columns = [c for c in table.c if c.name not in ("custom", "updated_at")]
        if name == "activities" and activities == "none":
            frame = pd.read_sql(select(*columns).where(False), conn)
        elif name == "activities" and activities != "all":
            frame = _open_deal_activities(conn, columns)
        else:
            frame = _whole(conn, table, columns)
        raw[name] = frame.astype(object).where(frame.notna(), "").astype(str)
    data, _ = validate_frames({n: raw[n] for n in t.ENTITY_TABLES}, config.funnel, lenient=True)
    return data


def _whole(conn: Connection, table, columns) -> pd.DataFrame:
    """Every row of `table` (these columns); on SQLite in statements of READ_ROWS rows by rowid."""
    if conn.dialect.name != "sqlite":
        return pd.read_sql(select(*columns), conn)
    rowid = literal_column(f"{table.name}.rowid")
    frames, last = [], 0
    while True:
        q = select(*columns, rowid.label("_rowid")).where(rowid > last).order_by(rowid).limit(READ_ROWS)
        chunk = pd.read_sql(q, conn)
        frames.append(chunk.drop(columns="_rowid"))
        if len(chunk) < READ_ROWS:
            return _joined(frames)
        last = int(chunk["_rowid"].iloc[-1])


def _joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of `frames` (the first is kept for its columns when every one is empty)."""
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0]
    return pd.concat(full, ignore_index=True) if len(full) > 1 else full[0]


def _open_deal_activities(conn: Connection, columns) -> pd.DataFrame:
    """The activities of the deals open now and of their accounts, read by entity through the
    activities' entity index (a few hundred entities a statement on SQLite)."""
    o, a = t.opportunities.c, t.activities.c
    open_deals = conn.execute(select(o.opportunity_id, o.account_id).where(o.outcome == "open")).all()
    wanted = [("opportunity", sorted({r.opportunity_id for r in open_deals}))]
    wanted.append(("account", sorted({r.account_id for r in open_deals if r.account_id is not None})))
    step = 500 if conn.dialect.name == "sqlite" else 50_000
    frames = [pd.read_sql(select(*columns).where(False), conn)]
    for kind, ids in wanted:
        for i in range(0, len(ids), step):
            q = select(*columns).where(a.entity_type == kind, a.entity_id.in_(ids[i : i + step]))
            frames.append(pd.read_sql(q, conn))
    return _joined(frames)


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
