"""Loading a whole export into the book: an empty book takes the validated frames by bulk insert
(SQLite: one executemany per table in one transaction; PostgreSQL: COPY), a book that already holds
data takes them as upserts (`funnelcast book sync`: replays are no-ops, changes are updates and are
queued for a new score)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from funnelcast.book import tables as t
from funnelcast.book import writes
from funnelcast.book.sql import chunks
from funnelcast.features.io import CRMData
from funnelcast.features.schema import CUSTOM_PREFIX

SQLITE_INSTANT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the form `tables.Instant` stores in SQLite
ORDER = (
    "accounts",
    "leads",
    "opportunities",
    "activities",
    "stage_history",
    "close_date_history",
    "amount_history",
)


def _custom(frame: pd.DataFrame) -> pd.Series | None:
    cols = [c for c in frame.columns if c.startswith(CUSTOM_PREFIX)]
    if not cols:
        return None
    values = frame[cols].rename(columns=lambda c: c.removeprefix(CUSTOM_PREFIX))
    return pd.Series(
        [
            {
                k: (None if pd.isna(v) else (float(v) if isinstance(v, int | float | np.number) else str(v)))
                for k, v in row.items()
            }
            for row in values.to_dict(orient="records")
        ],
        index=frame.index,
    )


def table_frame(data: CRMData, entity: str, now: pd.Timestamp) -> pd.DataFrame:
    """The entity's frame with exactly the table's columns (custom attributes as one JSON dict)."""
    table = t.ENTITY_TABLES[entity]
    frame = getattr(data, entity)
    key = writes.KEYS[entity]
    frame = frame.drop_duplicates(list(key), keep="last") if len(key) else frame
    out = pd.DataFrame(index=frame.index)
    for col in table.c:
        if col.name == "custom":
            out["custom"] = _custom(frame)
        elif col.name == "updated_at":
            out["updated_at"] = now
        else:
            out[col.name] = frame.get(col.name)
    return out.reset_index(drop=True)


def _sqlite_values(frame: pd.DataFrame, table) -> list[tuple]:
    cols = []
    for col in table.c:
        s = frame[col.name]
        if isinstance(col.type, t.Instant):
            stamps = pd.to_datetime(s, utc=True)
            s = pd.Series(np.where(stamps.isna(), None, stamps.dt.strftime(SQLITE_INSTANT)), dtype=object)
        elif col.name == "custom":
            s = s.map(lambda d: None if d is None else json.dumps(d, ensure_ascii=False))
        else:
            s = s.astype(object).where(s.notna(), None)
        cols.append(s.tolist())
    return list(zip(*cols, strict=True))


def _copy_csv(frame: pd.DataFrame, table) -> str:
    out = frame.copy()
    for col in table.c:
        if isinstance(col.type, t.Instant):
            stamps = pd.to_datetime(out[col.name], utc=True)
            out[col.name] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").where(stamps.notna(), None)
        elif col.name == "custom":
            out[col.name] = out[col.name].map(
                lambda d: None if d is None else json.dumps(d, ensure_ascii=False)
            )
    buffer = io.StringIO()
    out[[c.name for c in table.c]].to_csv(buffer, index=False, header=False, na_rep="\\N")
    return buffer.getvalue()


def is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return all(
            conn.execute(select(func.count()).select_from(t.ENTITY_TABLES[e])).scalar() == 0 for e in ORDER
        )


def _insert_frame(conn, table, frame: pd.DataFrame) -> None:
    """Every row of `frame` (the table's columns) into `table`: executemany on SQLite, COPY on
    PostgreSQL (both bypass per-value processing, so times and JSON are put in the stored form here)."""
    raw = conn.connection.dbapi_connection
    names = ", ".join(c.name for c in table.c)
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in table.c)
        raw.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", _sqlite_values(frame, table))
    else:
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy,
        ):
            copy.write(_copy_csv(frame, table))


def bulk_insert(
    engine: Engine, data: CRMData, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Insert every record of `data` into an empty book in one transaction, with the keys and pairs of
    duplicate leads. Returns rows per table."""
    from funnelcast.book.matching import keys_frame, pairs_frame

    now = pd.Timestamp.now(tz="UTC")
    counts = {}
    with engine.begin() as conn:
        for entity in ORDER:
            table = t.ENTITY_TABLES[entity]
            frame = table_frame(data, entity, now)
            if len(frame):
                _insert_frame(conn, table, frame)
            counts[entity] = len(frame)
            if progress:
                progress(entity, len(frame))
        leads = data.leads.drop_duplicates("lead_id", keep="last")
        keys = keys_frame(leads, data.accounts.drop_duplicates("account_id", keep="last"))
        open_leads = set(leads.loc[leads["converted_at"].isna() & leads["disqualified_at"].isna(), "lead_id"])
        pairs = pairs_frame(keys, open_leads, leads.set_index("lead_id")["account_id"]).assign(found_at=now)
        for table, frame in ((t.match_keys, keys), (t.duplicates, pairs)):
            if len(frame):
                _insert_frame(conn, table, frame[[c.name for c in table.c]])
            counts[table.name] = len(frame)
    return counts


def upsert_all(
    engine: Engine,
    data: CRMData,
    stages: dict[str, set[str]],
    as_of: str | None,
    batch: int = 5000,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, writes.WriteResult]:
    """Upsert every record of `data` (book sync), batch by batch, queueing what changed for a score."""
    now = pd.Timestamp.now(tz="UTC")
    results = {}
    for entity in ORDER:
        frame = table_frame(data, entity, now).drop(columns=["updated_at"], errors="ignore")
        for col in t.ENTITY_TABLES[entity].c:
            if isinstance(col.type, t.Instant) and col.name in frame:
                stamps = pd.to_datetime(frame[col.name], utc=True)
                frame[col.name] = pd.Series(
                    np.where(stamps.isna(), None, stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")), dtype=object
                )
        rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        total = writes.WriteResult(entity)
        for part in chunks(rows, batch):
            with engine.begin() as conn:
                r = writes.write_batch(
                    conn, entity, list(part), now=now.isoformat(), as_of=as_of, stages=stages
                )
            total.received += r.received
            total.inserted += r.inserted
            total.updated += r.updated
            total.unchanged += r.unchanged
            if progress:
                progress(entity, len(part))
        results[entity] = total
    return results
