"""Writing to the book: idempotent by id, references checked before anything is written (every
problem at once), and what a batch touches queued for a score in the same transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from funnelcast.book import tables as t
from funnelcast.book.db import engine_for, migrate
from funnelcast.book.writes import pending_rows, write_batch
from funnelcast.core.errors import InvalidInput

NOW = "2025-06-01T00:00:00Z"
STAGES = {"default": {"待沟通", "发现机会", "明确需求", "购买决策", "成单完成", "输单"}}
ACCOUNT = {"account_id": "A1", "name": "星辰科技有限公司", "industry": None, "employees": 50.0}
ACCOUNT |= {"annual_revenue": None, "region": "华东", "custom": {}}
LEAD = {
    "lead_id": "L1",
    "account_id": "A1",
    "company": None,
    "industry": None,
    "employees": None,
    "region": None,
    "created_at": "2025-05-01T00:00:00Z",
    "source": "webinar",
    "owner": "张伟",
    "contact_name": "李娜",
    "contact_title": "采购总监",
    "contact_role": None,
    "product_interest": None,
    "need": None,
    "budget_amount": 200000.0,
    "budget_currency": "CNY",
    "budget_band": None,
    "timeline_date": None,
    "timeline_horizon": None,
    "converted_at": None,
    "disqualified_at": None,
    "disqualify_reason": None,
    "custom": {"segment": "smb"},
}


def _activity(i: int, entity_type: str = "lead", entity_id: str = "L1") -> dict:
    return {
        "activity_id": f"E{i}",
        "entity_type": entity_type,
        "entity_id": entity_id,
        "occurred_at": f"2025-05-{10 + i:02d}T09:00:00Z",
        "type": "web_visit",
        "value": None,
        "contact_id": None,
        "contact_role": None,
    }


@pytest.fixture
def engine(book_url):
    engine = engine_for(book_url)
    migrate(engine)
    with engine.begin() as conn:
        write_batch(conn, "accounts", [ACCOUNT], now=NOW, as_of=None, stages=STAGES)
        write_batch(conn, "leads", [LEAD], now=NOW, as_of=None, stages=STAGES)
    return engine


def test_a_replay_is_a_no_op_and_a_change_an_update(engine):
    acts = [_activity(1), _activity(2)]
    with engine.begin() as conn:
        first = write_batch(conn, "activities", acts, now=NOW, as_of=None, stages=STAGES)
    with engine.begin() as conn:
        again = write_batch(conn, "activities", acts, now=NOW, as_of=None, stages=STAGES)
    changed = [{**acts[0], "type": "demo_request"}, acts[1]]
    with engine.begin() as conn:
        third = write_batch(conn, "activities", changed, now=NOW, as_of=None, stages=STAGES)
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 1)
    assert first.touched["lead"] == {"L1"} and not again.touched["lead"]
    with engine.connect() as conn:
        assert conn.execute(
            select(t.activities.c.type).where(t.activities.c.activity_id == "E1")
        ).scalar() == ("demo_request")
        assert conn.execute(select(func.count()).select_from(t.activities)).scalar() == 2


def test_unknown_references_are_all_named_and_nothing_is_written(engine):
    bad = [_activity(1), _activity(2, "lead", "L-missing"), _activity(3, "opportunity", "O-missing")]
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        write_batch(conn, "activities", bad, now=NOW, as_of=None, stages=STAGES)
    assert {d["field"] for d in err.value.details} == {"activities.1.entity_id", "activities.2.entity_id"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.activities)).scalar() == 0


def test_a_stage_outside_its_pipeline_is_refused(engine):
    deal = {
        "opportunity_id": "O1",
        "lead_id": "L1",
        "account_id": "A1",
        "owner": "王芳",
        "pipeline": "default",
        "product": "crm_suite",
        "amount": 1000.0,
        "currency": "CNY",
        "created_at": "2025-05-02T00:00:00Z",
        "expected_close_date": None,
        "outcome": "open",
        "closed_at": None,
        "loss_reason": None,
        "custom": {},
    }
    with engine.begin() as conn:
        write_batch(conn, "opportunities", [deal], now=NOW, as_of=None, stages=STAGES)
    rows = [
        {"opportunity_id": "O1", "stage": "待沟通", "entered_at": "2025-05-02T00:00:00Z"},
        {"opportunity_id": "O1", "stage": "trial", "entered_at": "2025-05-03T00:00:00Z"},
    ]
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        write_batch(conn, "stage_history", rows, now=NOW, as_of=None, stages=STAGES)
    assert [d["field"] for d in err.value.details] == ["stage_history.1.stage"]


def test_an_account_activity_queues_the_accounts_leads(engine):
    with engine.begin() as conn:
        result = write_batch(
            conn,
            "activities",
            [_activity(1, "account", "A1")],
            now=NOW,
            as_of="2025-05-30T00:00:00Z",
            stages=STAGES,
        )
    assert result.touched["lead"] == {"L1"}
    with engine.connect() as conn:
        (queued,) = pending_rows(conn, "lead", 10)
    assert queued["entity_id"] == "L1" and queued["as_of"] == "2025-05-30T00:00:00Z"
    assert "activity E1 (web_visit" in queued["cause"]
