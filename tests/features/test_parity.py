"""Train/serve parity: the batch path and the API payload path give identical feature rows."""

import json

import numpy as np
import pandas as pd
import pytest

from features.history import week_start
from features.io import load_crm_data
from features.pipeline import build_lead_features, build_opportunity_features, snapshot_rates
from features.records import frames_from_records


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as a CRM would send them in JSON: ISO strings, nulls, numbers."""
    return json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))


@pytest.fixture(scope="module")
def data(data_dir, config):
    loaded, _ = load_crm_data(data_dir, config.funnel)
    return loaded


def test_lead_payload_path_matches_batch(data, config):
    rnd = np.random.default_rng(5)
    leads = data.leads.sample(25, random_state=rnd)
    as_of = leads["created_at"] + pd.to_timedelta(rnd.integers(0, 60 * 86400, len(leads)), unit="s")
    snaps = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "as_of": as_of.dt.floor("s").to_numpy()})
    batch = build_lead_features(data, snaps, config)
    for i, lead in enumerate(leads.itertuples(index=False)):
        acts = data.activities[((data.activities["entity_type"] == "lead") & (data.activities["entity_id"] == lead.lead_id))
                               | ((data.activities["entity_type"] == "account")
                                  & (data.activities["entity_id"] == lead.account_id))]
        payload = {"leads": _records(leads.iloc[[i]]), "activities": _records(acts),
                   "accounts": _records(data.accounts[data.accounts["account_id"] == lead.account_id])}
        one = frames_from_records(payload)
        served = build_lead_features(one, snaps.iloc[[i]].reset_index(drop=True), config)
        pd.testing.assert_frame_equal(served.reset_index(drop=True), batch.iloc[[i]].reset_index(drop=True),
                                      check_exact=True)


def test_opportunity_payload_path_matches_batch_with_frozen_rates(data, config):
    rnd = np.random.default_rng(6)
    opps = data.opportunities.sample(25, random_state=rnd)
    as_of = opps["created_at"] + pd.to_timedelta(rnd.integers(0, 60 * 86400, len(opps)), unit="s")
    snaps = pd.DataFrame({"opportunity_id": opps["opportunity_id"].to_numpy(), "as_of": as_of.dt.floor("s").to_numpy()})
    # serving uses one frozen rates table: the batch path is given the same one
    ref = int(week_start(np.array([pd.Timestamp("2025-06-02", tz="UTC").value // 10**9]))[0])
    rates = snapshot_rates(data, pd.DataFrame({"as_of": [pd.Timestamp(ref, unit="s", tz="UTC")]}), config)
    rates = rates.frozen_at(ref)
    batch = build_opportunity_features(data, snaps, config, rates=rates)
    for i, opp in enumerate(opps.itertuples(index=False)):
        mine = {name: frame[frame["opportunity_id"] == opp.opportunity_id]
                for name, frame in (("stage_history", data.stage_history),
                                    ("close_date_history", data.close_date_history),
                                    ("amount_history", data.amount_history))}
        acts = data.activities[((data.activities["entity_type"] == "opportunity")
                                & (data.activities["entity_id"] == opp.opportunity_id))
                               | ((data.activities["entity_type"] == "account")
                                  & (data.activities["entity_id"] == opp.account_id))]
        payload = {"opportunities": _records(opps.iloc[[i]]), "activities": _records(acts),
                   "accounts": _records(data.accounts[data.accounts["account_id"] == opp.account_id]),
                   **{k: _records(v) for k, v in mine.items()}}
        served = build_opportunity_features(frames_from_records(payload), snaps.iloc[[i]].reset_index(drop=True),
                                            config, rates=rates)
        pd.testing.assert_frame_equal(served.reset_index(drop=True), batch.iloc[[i]].reset_index(drop=True),
                                      check_exact=True)


def test_rates_survive_a_round_trip_through_json(data, config):
    from features.history import Rates

    rates = snapshot_rates(data, pd.DataFrame({"as_of": [pd.Timestamp("2025-03-03", tz="UTC")]}), config)
    again = Rates.from_dict(json.loads(json.dumps(rates.to_dict())))
    assert np.array_equal(again.references, rates.references)
    pd.testing.assert_frame_equal(again.owner_win, rates.owner_win, check_dtype=False)
