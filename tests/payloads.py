"""Lead scoring request bodies from pyfunc-style raw rows (`training.train.example_rows`): the same
records both ways, for tests that compare the API with the pyfunc model or with itself."""

from __future__ import annotations

import json

import pandas as pd

ACTIVITY_FIELDS = ("activity_id", "occurred_at", "type", "value", "contact_id", "contact_role")
LEAD_FIELDS = (
    "lead_id",
    "created_at",
    "source",
    "account_id",
    "company",
    "industry",
    "employees",
    "region",
    "owner",
    "contact_title",
    "contact_role",
    "product_interest",
    "need",
    "budget_amount",
    "budget_currency",
    "budget_band",
    "timeline_date",
    "timeline_horizon",
)


def lead_payload(rows: pd.DataFrame, as_of: str, account_activities: bool = False) -> dict:
    """One item per row: the lead, its activities and account; with `account_activities`, also the
    account's anonymous visits."""
    items = []
    for rec in rows.to_dict(orient="records"):
        acts = json.loads(rec["activities"])
        lead = {k: rec[k] for k in LEAD_FIELDS if rec.get(k) is not None}
        for k in ("employees", "budget_amount"):
            if k in lead:
                lead[k] = float(lead[k])
        item = {
            "lead": lead,
            "activities": [
                {k: a.get(k) for k in ACTIVITY_FIELDS} for a in acts if a["entity_type"] == "lead"
            ],
        }
        accounts = json.loads(rec["account"])
        if accounts:
            item["account"] = {k: v for k, v in accounts[0].items() if v is not None}
            if account_activities:
                item["account_activities"] = [
                    {k: a.get(k) for k in ACTIVITY_FIELDS} for a in acts if a["entity_type"] == "account"
                ]
        items.append(item)
    return {"as_of": as_of, "leads": items}
