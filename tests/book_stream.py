"""Helpers of the book tests: generated data as a CRM held it at a time, a book loaded with it, and what
the CRM sends to keep the book (day by day) or to score (the same records), as API bodies."""

from __future__ import annotations

import dataclasses

import pandas as pd

from funnelcast.book.db import engine_for, migrate
from funnelcast.book.load import bulk_insert
from funnelcast.serving import schemas
from funnelcast.serving.registry import ModelRegistry
from funnelcast.serving.regrade import BookScorer
from funnelcast.serving.settings import ServingSettings

DAY = pd.Timedelta(days=1)
LEAD_FIELDS = list(schemas.BookLead.model_fields)
DEAL_FIELDS = list(schemas.BookOpportunity.model_fields)
ACTIVITY_FIELDS = list(schemas.BookActivity.model_fields)
ACT = [
    "activity_id",
    "occurred_at",
    "type",
    "value",
    "contact_id",
    "contact_role",
]  # an activity in a request


def as_known(data, when: pd.Timestamp):
    """The data as a CRM held it at `when`: records created by then, outcomes not yet known unset."""
    leads = data.leads[data.leads["created_at"] <= when].copy()
    for col in ("converted_at", "disqualified_at"):
        leads.loc[leads[col] > when, col] = pd.NaT
    leads.loc[leads["disqualified_at"].isna(), "disqualify_reason"] = None
    opps = data.opportunities[data.opportunities["created_at"] <= when].copy()
    later = opps["closed_at"] > when
    opps.loc[later, "outcome"] = "open"
    opps.loc[later, "closed_at"] = pd.NaT
    opps.loc[later, "loss_reason"] = None
    ids = set(opps["opportunity_id"])

    def events(frame, col):
        keep = frame[col] <= when
        if "opportunity_id" in frame:
            keep &= frame["opportunity_id"].isin(ids)
        return frame[keep]

    return dataclasses.replace(
        data,
        leads=leads,
        opportunities=opps,
        activities=events(data.activities, "occurred_at"),
        stage_history=events(data.stage_history, "entered_at"),
        close_date_history=events(data.close_date_history, "changed_at"),
        amount_history=events(data.amount_history, "changed_at"),
    )


def records(frame: pd.DataFrame, fields: list[str]) -> list[dict]:
    """Rows as the API takes them: ISO text for times, None for missing, custom attributes empty."""
    out = frame.reindex(columns=[f for f in fields if f != "custom"]).copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = out.astype(object).where(out.notna(), None).to_dict(orient="records")
    if "custom" in fields:
        for r in rows:
            r["custom"] = {}
    return rows


def _window(frame, col, start, end):
    return frame[(frame[col] > start) & (frame[col] <= end)]


def day_batches(data, start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[str, str, dict]]:
    """What the CRM sends for (start, end], in order: (method, path, body) with as_of = end."""
    known = as_known(data, end)
    leads = known.leads[
        (known.leads["created_at"] > start)
        | (known.leads["converted_at"] > start)
        | (known.leads["disqualified_at"] > start)
    ]
    opps = known.opportunities[
        (known.opportunities["created_at"] > start) | (known.opportunities["closed_at"] > start)
    ]
    as_of = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = [
        ("PUT", "/v1/book/leads", "leads", records(leads, LEAD_FIELDS)),
        ("PUT", "/v1/book/opportunities", "opportunities", records(opps, DEAL_FIELDS)),
        (
            "POST",
            "/v1/book/activities",
            "activities",
            records(_window(known.activities, "occurred_at", start, end), ACTIVITY_FIELDS),
        ),
        (
            "POST",
            "/v1/book/stage-changes",
            "stage_changes",
            records(
                _window(known.stage_history, "entered_at", start, end),
                ["opportunity_id", "stage", "entered_at"],
            ),
        ),
        (
            "POST",
            "/v1/book/close-date-changes",
            "close_date_changes",
            records(
                _window(known.close_date_history, "changed_at", start, end),
                ["opportunity_id", "changed_at", "expected_close_date"],
            ),
        ),
        (
            "POST",
            "/v1/book/amount-changes",
            "amount_changes",
            records(
                _window(known.amount_history, "changed_at", start, end),
                ["opportunity_id", "changed_at", "amount"],
            ),
        ),
    ]
    return [(m, p, {"as_of": as_of, key: rows}) for m, p, key, rows in out if rows]


def lead_request(data, ids: list[str], as_of: str) -> dict:
    """`POST /v1/leads/score` for these leads with their records as known at as_of (from the data, not
    the book)."""
    when = pd.Timestamp(as_of)
    known = as_known(data, when)
    leads = known.leads.set_index("lead_id", drop=False)
    accounts = data.accounts.set_index("account_id", drop=False)
    acts = known.activities
    items = []
    for lid in ids:
        lead = records(leads.loc[[lid]], list(schemas.Lead.model_fields))[0]
        item = {
            "lead": lead,
            "activities": records(acts[(acts["entity_type"] == "lead") & (acts["entity_id"] == lid)], ACT),
        }
        account = lead["account_id"]
        if account:
            item["account"] = records(accounts.loc[[account]], list(schemas.Account.model_fields))[0]
            own = acts[(acts["entity_type"] == "account") & (acts["entity_id"] == account)]
            item["account_activities"] = records(own, ACT)
        items.append(item)
    return {"as_of": as_of, "leads": items}


def deal_request(data, ids: list[str], as_of: str) -> dict:
    when = pd.Timestamp(as_of)
    known = as_known(data, when)
    opps = known.opportunities.set_index("opportunity_id", drop=False)
    accounts = data.accounts.set_index("account_id", drop=False)
    acts = known.activities
    act_fields = ACT
    items = []
    for oid in ids:
        deal = records(opps.loc[[oid]], list(schemas.Opportunity.model_fields))[0]
        account = deal["account_id"]

        def rows(frame, fields, oid=oid):
            return records(frame[frame["opportunity_id"] == oid], fields)

        items.append(
            {
                "opportunity": deal,
                "stage_history": rows(known.stage_history, ["stage", "entered_at"]),
                "close_date_history": rows(known.close_date_history, ["changed_at", "expected_close_date"]),
                "amount_history": rows(known.amount_history, ["changed_at", "amount"]),
                "activities": records(
                    acts[(acts["entity_type"] == "opportunity") & (acts["entity_id"] == oid)], act_fields
                ),
                "account": records(accounts.loc[[account]], list(schemas.Account.model_fields))[0],
                "account_activities": records(
                    acts[(acts["entity_type"] == "account") & (acts["entity_id"] == account)], act_fields
                ),
            }
        )
    return {"as_of": as_of, "opportunities": items}


def load_book(book_url: str, d20_data, config) -> dict:
    """The book at `book_url`, holding the generated data as known at D, scored as of D (the
    registry's models: the `store` fixture must be set up)."""
    data = d20_data[0]
    end = data.last_event().floor("D")
    day_d = end - pd.Timedelta(days=45)
    engine = engine_for(book_url)
    migrate(engine)
    bulk_insert(engine, as_known(data, day_d))
    registry = ModelRegistry(ServingSettings(model_source="registry"), config)
    registry.load_all()
    scorer = BookScorer(engine, registry, config)
    for kind in ("lead", "opportunity"):
        scorer.rescore_all(kind, "load", "book load", day_d.isoformat())
    return {"url": book_url, "engine": engine, "scorer": scorer, "day_d": day_d, "data": data}
