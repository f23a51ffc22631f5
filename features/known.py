"""The data as a CRM export taken at a moment would hold it. Pure: no I/O, no clock.

Backtests and funnel reports "as of" a past date start here, so nothing recorded later (a stage
entered, a deal closed, a close date moved) can leak into what they compute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.features.io import CRMData


def known_at(data: CRMData, as_of: pd.Timestamp) -> CRMData:
    """Later rows removed, outcomes not yet known blanked, current values (expected close date,
    amount) as they stood at as_of according to their change histories."""
    leads = data.leads[data.leads["created_at"] <= as_of].copy()
    for col in ("converted_at", "disqualified_at"):
        leads[col] = leads[col].where(leads[col] <= as_of)
    leads["disqualify_reason"] = leads["disqualify_reason"].where(leads["disqualified_at"].notna())
    opps = data.opportunities[data.opportunities["created_at"] <= as_of].copy()
    not_yet = opps["closed_at"] > as_of
    opps.loc[not_yet, ["closed_at"]] = pd.NaT
    opps.loc[not_yet, "outcome"] = "open"
    opps.loc[not_yet, "loss_reason"] = np.nan
    closes = data.close_date_history[data.close_date_history["changed_at"] <= as_of]
    amounts = data.amount_history[data.amount_history["changed_at"] <= as_of]
    latest_close = (
        closes.sort_values("changed_at", kind="stable")
        .groupby("opportunity_id")["expected_close_date"]
        .last()
    )
    latest_amount = (
        amounts.sort_values("changed_at", kind="stable").groupby("opportunity_id")["amount"].last()
    )
    # a deal with a close-date history had, at as_of, the latest value then (none if all came later)
    tracked = opps["opportunity_id"].isin(data.close_date_history["opportunity_id"])
    at_as_of = pd.Series(latest_close.reindex(opps["opportunity_id"].to_numpy()).to_numpy(), index=opps.index)
    opps["expected_close_date"] = opps["expected_close_date"].where(~tracked, at_as_of)
    amount_then = pd.Series(
        latest_amount.reindex(opps["opportunity_id"].to_numpy()).to_numpy(dtype=float), index=opps.index
    )
    opps["amount"] = amount_then.fillna(opps["amount"])
    acts = data.activities[data.activities["occurred_at"] <= as_of]
    stages = data.stage_history[data.stage_history["entered_at"] <= as_of]
    return CRMData(
        data.accounts,
        leads.reset_index(drop=True),
        acts.reset_index(drop=True),
        opps.reset_index(drop=True),
        stages.reset_index(drop=True),
        closes.reset_index(drop=True),
        amounts.reset_index(drop=True),
        data.custom_attributes,
    )
