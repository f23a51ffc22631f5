"""Snapshots and labels: open at the snapshot, labelled by the horizon, censored when unknowable."""

import numpy as np
import pandas as pd

from funnelcast.core.config import LeadSnapshotConfig
from funnelcast.features.io import load_crm_data
from funnelcast.training.snapshots import lead_snapshots, observed_until, opportunity_snapshots

T = pd.Timestamp


def _leads(rows):
    frame = pd.DataFrame(rows, columns=["lead_id", "created_at", "converted_at", "disqualified_at"])
    for col in ("created_at", "converted_at", "disqualified_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def test_lead_labels_and_right_censoring():
    until = T("2024-12-31", tz="UTC")
    leads = _leads(
        [
            ("converts_day_20", "2024-01-01", "2024-01-21", None),
            ("converts_day_200", "2024-01-01", "2024-07-19", None),
            ("never", "2024-01-01", None, None),
            ("recent_open", "2024-12-01", None, None),  # horizon runs past the data: unknown
            (
                "recent_converted",
                "2024-12-01",
                "2024-12-10",
                None,
            ),  # converted inside the data: known positive
            ("disqualified_day_3", "2024-01-01", None, "2024-01-04"),
        ]
    )
    every_age = LeadSnapshotConfig(every_days=10, max_age_days=300, age_sample_rate=1.0)
    snaps = lead_snapshots(leads, 90, until, every_age)
    label = snaps.set_index(["lead_id", "snapshot_day"])["label"]
    assert label[("converts_day_20", 0)] == 1 and label[("converts_day_20", 10)] == 1
    assert ("converts_day_20", 20) not in label.index  # converted by then: no longer an open lead
    assert label[("converts_day_200", 0)] == 0 and label[("converts_day_200", 110)] == 1
    assert label[("never", 200)] == 0
    assert snaps[snaps["lead_id"] == "never"]["snapshot_day"].max() == 300  # the configured maximum age
    assert np.isnan(label[("recent_open", 0)])
    assert label[("recent_converted", 0)] == 1
    assert set(snaps[snaps["lead_id"] == "disqualified_day_3"]["snapshot_day"]) == {0}
    assert (snaps["as_of"] <= until).all()


def test_ages_are_sampled_whatever_the_outcome(data_dir, config):
    """Every lead keeps its creation snapshot; each later age is kept with the configured probability,
    for converters and non-converters alike (a sample that depended on the outcome biases rates by age)."""
    data, _ = load_crm_data(data_dir, config.funnel)
    until = observed_until(data)
    policy = LeadSnapshotConfig(every_days=30, max_age_days=730, age_sample_rate=0.25)
    snaps = lead_snapshots(data.leads, 90, until, policy, seed=4)
    everything = lead_snapshots(data.leads, 90, until, policy.model_copy(update={"age_sample_rate": 1.0}))
    assert (
        snaps[snaps["snapshot_day"] == 0]["lead_id"].nunique()
        == everything[everything["snapshot_day"] == 0]["lead_id"].nunique()
    )
    older = everything[everything["snapshot_day"] > 0]
    kept = (
        older.merge(
            snaps[snaps["snapshot_day"] > 0], on=["lead_id", "snapshot_day"], how="left", indicator=True
        )["_merge"]
        .eq("both")
        .to_numpy()
    )
    assert abs(kept.mean() - 0.25) < 0.02
    converts = older["label"].to_numpy() == 1
    assert abs(kept[converts].mean() - kept[~converts].mean()) < 0.05
    again = lead_snapshots(data.leads, 90, until, policy, seed=4)
    pd.testing.assert_frame_equal(snaps, again)


def test_opportunity_snapshots_are_open_and_labels_monotone(data_dir, config):
    data, _ = load_crm_data(data_dir, config.funnel)
    until = observed_until(data)
    open_stages = {p.key: {s.key for s in p.stages} for p in config.funnel.pipelines}
    snaps = opportunity_snapshots(data.opportunities, data.stage_history, open_stages, until)
    merged = snaps.merge(
        data.opportunities[["opportunity_id", "created_at", "closed_at"]], on="opportunity_id"
    )
    assert (merged["as_of"] >= merged["created_at"]).all()
    assert (merged["closed_at"].isna() | (merged["closed_at"] > merged["as_of"])).all()
    both = snaps.dropna(subset=["won_30d", "won_60d", "won_90d", "won"])
    assert (both["won_30d"] <= both["won_60d"]).all() and (both["won_60d"] <= both["won_90d"]).all()
    assert (both["won_90d"] <= both["won"]).all()
    # open deals at the end have no eventual label; deals never have a negative label they could still win
    open_ids = data.opportunities.loc[data.opportunities["outcome"] == "open", "opportunity_id"]
    assert snaps[snaps["opportunity_id"].isin(open_ids)]["won"].isna().all()
    late = snaps[snaps["as_of"] + pd.Timedelta(days=90) > until]
    late_open = late[late["opportunity_id"].isin(open_ids)]
    assert late_open["won_90d"].isna().all()
    assert {"stage_entry", "periodic"} <= set(snaps["kind"])
