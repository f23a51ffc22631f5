"""The single-lead fast path equals the batch feature pipeline, value for value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.events import to_seconds
from features.io import CRMData
from features.lead_row import Activity, ActivityArrays, LeadRowFeatures
from features.pipeline import build_lead_features


def _py(value):
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.floating):
        return float(value)
    return value


def fast_rows(data: CRMData, snaps: pd.DataFrame, config) -> pd.DataFrame:
    rows = LeadRowFeatures(config, data.custom_attributes)
    leads = data.leads.set_index("lead_id")
    accounts = {r["account_id"]: {k: _py(v) for k, v in r.items()} for r in data.accounts.to_dict("records")}
    acts = data.activities
    lead_acts = acts[acts["entity_type"] == "lead"]
    secs = to_seconds(lead_acts["occurred_at"])
    by_lead: dict[str, list[Activity]] = {}
    for lid, s, t, v in zip(lead_acts["entity_id"], secs, lead_acts["type"], lead_acts["value"], strict=True):
        by_lead.setdefault(lid, []).append(Activity(int(s), t, None if np.isnan(v) else float(v)))
    acc_acts = acts[acts["entity_type"] == "account"]
    by_account: dict[str, list[int]] = {}
    for aid, s in zip(acc_acts["entity_id"], to_seconds(acc_acts["occurred_at"]), strict=True):
        by_account.setdefault(aid, []).append(int(s))
    out = []
    for lid, as_of in zip(snaps["lead_id"], snaps["as_of"], strict=True):
        lead = {k: _py(v) for k, v in leads.loc[lid].items()}
        account_id = lead.get("account_id")
        out.append(rows.row(lead, accounts.get(account_id), by_lead.get(lid, []), by_account.get(account_id, []),
                            int(as_of.timestamp())))
    return pd.DataFrame(out, columns=rows.columns)


def assert_same(batch: pd.DataFrame, fast: pd.DataFrame) -> None:
    assert list(batch.columns) == list(fast.columns)
    for col in batch.columns:
        a, b = batch[col].to_numpy(), fast[col].to_numpy()
        if batch[col].dtype == object or str(batch[col].dtype) == "str":
            assert [None if pd.isna(x) else x for x in a] == [None if pd.isna(x) else x for x in b], col
        else:
            np.testing.assert_array_equal(a.astype(float), b.astype(float), err_msg=col)


@pytest.fixture(scope="module")
def small(synthetic, config):
    from features.io import validate_frames

    data, _ = validate_frames(synthetic.frames, config.funnel)
    return data


def test_fast_path_equals_batch_features_on_generated_leads(small, config):
    leads = small.leads.sample(400, random_state=3)
    offsets = np.random.default_rng(3).choice([0, 1, 7, 14, 30, 90, 400], len(leads))
    snaps = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(),
                          "as_of": (leads["created_at"] + pd.to_timedelta(offsets, unit="D")).dt.floor("s").to_numpy()})
    snaps["as_of"] = pd.to_datetime(snaps["as_of"], utc=True)
    assert_same(build_lead_features(small, snaps, config), fast_rows(small, snaps, config))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(i=st.integers(0, 4999), days=st.floats(-5, 800, allow_nan=False))
def test_fast_path_equals_batch_features_at_any_time(small, config, i, days):
    lead = small.leads.iloc[i % len(small.leads)]
    as_of = (lead["created_at"] + pd.Timedelta(days=days)).floor("s")
    snaps = pd.DataFrame({"lead_id": [lead["lead_id"]], "as_of": [as_of]})
    assert_same(build_lead_features(small, snaps, config), fast_rows(small, snaps, config))


def batch_rows(data: CRMData, lead_ids: list[str], as_of: pd.Timestamp, config) -> pd.DataFrame:
    """`LeadRowFeatures.rows` (the API's path for larger requests) on the same records."""
    rows = LeadRowFeatures(config, data.custom_attributes)
    leads = data.leads.set_index("lead_id")
    accounts = {r["account_id"]: {k: _py(v) for k, v in r.items()} for r in data.accounts.to_dict("records")}
    lead_dicts = [{k: _py(v) for k, v in leads.loc[lid].items()} for lid in lead_ids]
    account_rows = [accounts.get(d.get("account_id")) for d in lead_dicts]
    position = {lid: i for i, lid in enumerate(lead_ids)}
    acts = data.activities
    mine = acts[(acts["entity_type"] == "lead") & acts["entity_id"].isin(position)]
    activities = ActivityArrays(mine["entity_id"].map(position).to_numpy(), to_seconds(mine["occurred_at"]),
                                mine["type"].to_numpy(dtype=object), mine["value"].to_numpy(dtype=float))
    account_ids = sorted({d["account_id"] for d, a in zip(lead_dicts, account_rows, strict=True) if a is not None})
    code = {aid: i for i, aid in enumerate(account_ids)}
    visits_of = acts[(acts["entity_type"] == "account") & acts["entity_id"].isin(code)]
    visits = ActivityArrays(visits_of["entity_id"].map(code).to_numpy(), to_seconds(visits_of["occurred_at"]),
                            np.zeros(0), np.zeros(0))
    lead_account = np.array([code.get(d.get("account_id"), -1) if a is not None else -1
                             for d, a in zip(lead_dicts, account_rows, strict=True)])
    out = rows.rows(lead_dicts, account_rows, activities, visits, lead_account, int(as_of.timestamp()))
    return pd.DataFrame(out, columns=rows.columns)


@pytest.mark.parametrize("as_of", ["2024-09-01", "2025-03-15T12:30:00", "2026-01-01"])
def test_batch_rows_equal_batch_features(small, config, as_of):
    as_of = pd.Timestamp(as_of, tz="UTC")
    leads = small.leads[small.leads["created_at"] <= as_of].sample(300, random_state=5)
    snaps = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "as_of": as_of})
    fast = batch_rows(small, list(leads["lead_id"]), as_of, config)
    assert_same(build_lead_features(small, snaps, config), fast)
    assert (fast["touches_90d"] > 0).any() and (fast["account_web_visits"] > 0).any()  # not vacuous
