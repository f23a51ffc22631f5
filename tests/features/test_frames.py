"""Point-in-time invariants of the feature pipeline, checked with Hypothesis on generated CRM data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from funnelcast.features.frames import build_lead_features, build_opportunity_features
from funnelcast.features.io import CRMData, load_crm_data
from funnelcast.features.known import known_at
from funnelcast.synthetic import generate, write_dataset

START = pd.Timestamp("2024-03-01", tz="UTC")
SPAN_S = int((pd.Timestamp("2025-12-31", tz="UTC") - START).total_seconds())
PROPERTY = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def small(config, tmp_path_factory) -> CRMData:
    out = tmp_path_factory.mktemp("small")
    write_dataset(generate(400, seed=11, config=config), out)
    data, _ = load_crm_data(out, config.funnel)
    return data


as_of_st = st.integers(0, SPAN_S).map(lambda s: START + pd.Timedelta(seconds=s))


def _lead_snaps(data: CRMData, as_of: pd.Timestamp) -> pd.DataFrame:
    ids = data.leads.loc[data.leads["created_at"] <= as_of, "lead_id"]
    return pd.DataFrame({"lead_id": ids.to_numpy(), "as_of": as_of})


def _opp_snaps(data: CRMData, as_of: pd.Timestamp) -> pd.DataFrame:
    ids = data.opportunities.loc[data.opportunities["created_at"] <= as_of, "opportunity_id"]
    return pd.DataFrame({"opportunity_id": ids.to_numpy(), "as_of": as_of})


def _both(data: CRMData, as_of: pd.Timestamp, config) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        build_lead_features(data, _lead_snaps(data, as_of), config),
        build_opportunity_features(data, _opp_snaps(data, as_of), config),
    )


def _future_rows(data: CRMData, as_of: pd.Timestamp, rnd: np.random.Generator, n: int) -> CRMData:
    """Append n rows of every timed kind, all strictly after as_of, to random entities."""
    later = as_of + pd.to_timedelta(rnd.integers(1, 200 * 86400, n), unit="s")
    leads = data.leads["lead_id"].to_numpy()[rnd.integers(0, len(data.leads), n)]
    opps = data.opportunities.iloc[rnd.integers(0, len(data.opportunities), n)]
    types = np.array(["web_visit", "demo_request", "email_open", "email_sent", "call", "meeting"])[
        rnd.integers(0, 6, n)
    ]
    acts = pd.DataFrame(
        {
            "activity_id": [f"FUT{i}" for i in range(2 * n)],
            "entity_type": ["lead"] * n + ["opportunity"] * n,
            "entity_id": np.r_[leads, opps["opportunity_id"].to_numpy()],
            "occurred_at": np.r_[later, later],
            "type": np.r_[types, types],
            "value": 30.0,
            "contact_id": [None] * n + [f"X{i}" for i in range(n)],
            "contact_role": [None] * n + ["decision_maker"] * n,
        }
    )
    stage_keys = {"default": ["待沟通", "输单", "明确需求"], "saas": ["demo", "closed_won", "discovery"]}
    stages = pd.DataFrame(
        {
            "opportunity_id": opps["opportunity_id"].to_numpy(),
            "stage": [stage_keys[p][i % 3] for i, p in enumerate(opps["pipeline"])],
            "entered_at": later,
        }
    )
    closes = pd.DataFrame(
        {
            "opportunity_id": opps["opportunity_id"].to_numpy(),
            "changed_at": later,
            "expected_close_date": later + pd.Timedelta(days=30),
        }
    )
    amounts = pd.DataFrame(
        {"opportunity_id": opps["opportunity_id"].to_numpy(), "changed_at": later, "amount": 1e6}
    )
    acts = acts.astype({"occurred_at": data.activities["occurred_at"].dtype})
    return dataclasses.replace(
        data,
        activities=pd.concat([data.activities, acts], ignore_index=True),
        stage_history=pd.concat([data.stage_history, stages], ignore_index=True),
        close_date_history=pd.concat([data.close_date_history, closes], ignore_index=True),
        amount_history=pd.concat([data.amount_history, amounts], ignore_index=True),
    )


@PROPERTY
@given(as_of=as_of_st, seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40))
def test_rows_after_as_of_change_no_feature(small, config, as_of, seed, n):
    before = _both(small, as_of, config)
    after = _both(_future_rows(small, as_of, np.random.default_rng(seed), n), as_of, config)
    pd.testing.assert_frame_equal(before[0], after[0], check_exact=True)
    pd.testing.assert_frame_equal(before[1], after[1], check_exact=True)


@PROPERTY
@given(as_of=as_of_st)
# a segment whose first deal closes after this as_of: its smoothed rate was the prior plus an ulp
@example(as_of=START + pd.Timedelta(seconds=35754858))
def test_features_on_full_data_equal_features_on_data_cut_at_as_of(small, config, as_of):
    full = _both(small, as_of, config)
    cut = _both(known_at(small, as_of), as_of, config)
    pd.testing.assert_frame_equal(full[0], cut[0], check_exact=True)
    pd.testing.assert_frame_equal(full[1], cut[1], check_exact=True)


@PROPERTY
@given(as_of=as_of_st, seed=st.integers(0, 2**32 - 1))
def test_shuffling_input_rows_changes_nothing(small, config, as_of, seed):
    rnd = np.random.default_rng(seed)
    shuffled = CRMData(
        **{
            name: frame.sample(frac=1.0, random_state=rnd).reset_index(drop=True)
            for name, frame in small.frames().items()
        }
    )
    leads, opps = _lead_snaps(small, as_of), _opp_snaps(small, as_of)  # same snapshots, shuffled data
    pd.testing.assert_frame_equal(
        build_lead_features(small, leads, config),
        build_lead_features(shuffled, leads, config),
        check_exact=True,
    )
    pd.testing.assert_frame_equal(
        build_opportunity_features(small, opps, config),
        build_opportunity_features(shuffled, opps, config),
        check_exact=True,
    )


@PROPERTY
@given(as_of=as_of_st)
def test_longer_windows_count_at_least_as_much(small, config, as_of):
    leads, opps = _both(small, as_of, config)
    windows = sorted(config.leads.behaviour.windows_days)
    for short, long in zip(windows, windows[1:], strict=False):
        for col in [c for c in leads.columns if c.endswith(f"_{short}d")]:
            assert (leads[col.replace(f"_{short}d", f"_{long}d")] >= leads[col]).all(), col
    assert (opps["activities_30d"] >= opps["activities_7d"]).all()
    assert (opps["activities_90d"] >= opps["activities_30d"]).all()


@PROPERTY
@given(as_of=as_of_st)
def test_every_entity_present_at_as_of_gets_exactly_one_row(small, config, as_of):
    snaps = _lead_snaps(small, as_of)
    leads = build_lead_features(small, snaps, config)
    assert len(leads) == int((small.leads["created_at"] <= as_of).sum())
    assert leads.index.equals(snaps.index)
    opps = build_opportunity_features(small, _opp_snaps(small, as_of), config)
    assert len(opps) == int((small.opportunities["created_at"] <= as_of).sum())


def test_stage_as_of_matches_a_naive_oracle(small, config):
    rnd = np.random.default_rng(3)
    opps = small.opportunities.sample(60, random_state=rnd)
    as_of = opps["created_at"] + pd.to_timedelta(rnd.integers(0, 120 * 86400, len(opps)), unit="s")
    snaps = pd.DataFrame({"opportunity_id": opps["opportunity_id"].to_numpy(), "as_of": as_of.to_numpy()})
    feats = build_opportunity_features(small, snaps, config)
    for i, (opp_id, t) in enumerate(zip(snaps["opportunity_id"], snaps["as_of"], strict=True)):
        rows = small.stage_history[
            (small.stage_history["opportunity_id"] == opp_id) & (small.stage_history["entered_at"] <= t)
        ]
        latest = rows.sort_values("entered_at").iloc[-1] if len(rows) else None  # find_latest_record
        assert feats["stage"].iloc[i] == (latest["stage"] if latest is not None else None) or (
            latest is None and pd.isna(feats["stage"].iloc[i])
        )
        if latest is not None:
            assert np.isclose(
                feats["days_in_stage"].iloc[i], (t - latest["entered_at"]).total_seconds() / 86400
            )


def test_outcome_columns_are_never_read(small, config):
    as_of = pd.Timestamp("2025-01-15", tz="UTC")
    scrambled = dataclasses.replace(
        small,
        leads=small.leads.assign(converted_at=pd.NaT, disqualified_at=pd.NaT, disqualify_reason=None),
        opportunities=small.opportunities.assign(outcome="open", loss_reason=None),
    )
    lead_a = build_lead_features(small, _lead_snaps(small, as_of), config)
    lead_b = build_lead_features(scrambled, _lead_snaps(scrambled, as_of), config)
    pd.testing.assert_frame_equal(lead_a, lead_b, check_exact=True)
