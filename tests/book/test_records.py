"""Reading what a re-score needs: a lead's activities and its account's, in time order, as the API's
Activity fields; on SQLite from the covering index alone."""

from __future__ import annotations

from sqlalchemy import select

from funnelcast.book import records
from funnelcast.book import tables as t
from funnelcast.book.db import engine_for, migrate
from funnelcast.book.sql import among
from funnelcast.book.writes import write_batch

NOW = "2025-06-01T00:00:00Z"
ACCOUNT = {"account_id": "A1", "name": "星辰科技有限公司", "industry": None, "employees": 50.0}
ACCOUNT |= {"annual_revenue": None, "region": "华东", "custom": {}}


def _lead(lead_id: str) -> dict:
    fields = [c.name for c in t.leads.c if c.name != "updated_at"]
    return {**dict.fromkeys(fields), "lead_id": lead_id, "account_id": "A1", "source": "webinar"} | {
        "created_at": "2025-05-01T00:00:00Z",
        "custom": {"segment": "smb"},
    }


def _activity(aid: str, entity_type: str, entity_id: str, at: str, **more) -> dict:
    base = {"value": None, "contact_id": None, "contact_role": None, "type": "web_visit"}
    return (
        base
        | {"activity_id": aid, "entity_type": entity_type, "entity_id": entity_id, "occurred_at": at}
        | more
    )


def test_lead_records_read_activities_in_time_order_with_the_apis_fields(book_url):
    engine = engine_for(book_url)
    migrate(engine)
    acts = [
        _activity("E3", "lead", "L1", "2025-05-12T09:00:00Z", type="email_open"),
        _activity("E1", "lead", "L1", "2025-05-10T09:00:00.500000Z", value=2.5, contact_id="C1"),
        _activity("E2", "lead", "L2", "2025-05-11T09:00:00Z", contact_role="decision_maker"),
        _activity("E4", "account", "A1", "2025-05-09T00:00:00Z", type="meeting"),
    ]
    with engine.begin() as conn:
        write_batch(conn, "accounts", [ACCOUNT], now=NOW, as_of=None, stages={})
        write_batch(conn, "leads", [_lead("L1"), _lead("L2")], now=NOW, as_of=None, stages={})
        write_batch(conn, "activities", acts, now=NOW, as_of=None, stages={})
    with engine.connect() as conn:
        got = records.lead_records(conn, ["L2", "L1", "L1"])
    assert sorted(r["lead_id"] for r in got.leads) == ["L1", "L2"]
    assert (
        got.leads[0]["custom"] == {"segment": "smb"} and got.leads[0]["created_at"] == "2025-05-01T00:00:00Z"
    )
    fields = records.ACTIVITY_COLUMNS
    assert [dict(zip(fields, a, strict=False)) for a in got.activities["L1"]] == [
        {k: v for k, v in a.items() if k in fields}
        for a in (acts[1], acts[0])  # time order
    ]
    assert [a[:2] for a in got.activities["L2"]] == [("E2", "2025-05-11T09:00:00Z")]
    assert got.activities["L2"][0][5] == "decision_maker" and got.activities["L2"][0][-1] == "L2"
    assert [a[:3] for a in got.account_activities["A1"]] == [("E4", "2025-05-09T00:00:00Z", "meeting")]
    if engine.dialect.name == "sqlite":  # from the index alone, already in order
        a = t.activities
        query = select(*[a.c[c] for c in fields], a.c.entity_id).where(
            a.c.entity_type == "lead", among(conn, a.c.entity_id, ["L1"])
        )
        query = query.order_by(a.c.entity_id, a.c.occurred_at, a.c.activity_id)
        with engine.connect() as conn:
            compiled = query.compile(dialect=conn.dialect)
            values = compiled.construct_params()
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + compiled.string, tuple(values[n] for n in compiled.positiontup)
            ).all()
        text = " ".join(str(row[-1]) for row in plan)
        assert "COVERING INDEX ix_activities_entity" in text and "TEMP B-TREE" not in text, text
