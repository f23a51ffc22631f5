"""Training snapshots and labels, right-censoring handled.

Lead snapshots: at creation and at ages sampled over the whole open life (not converted, not
disqualified), independently of the outcome; label "converted within H days". Opportunity snapshots:
at each open-stage entry and every 14 days while open; labels "won eventually" and "won within
30 / 60 / 90 days".
open-stage entry and every 14 days while open; labels "won eventually" and "won within 30 / 60 / 90
days".
A label whose horizon runs past the end of the observed data, without the event having happened,
is unknown (missing), never negative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.core.config import LeadSnapshotConfig
from funnelcast.core.times import SECONDS_PER_DAY, to_seconds
from funnelcast.features.io import CRMData

OPPORTUNITY_EVERY_DAYS = 14
WIN_HORIZONS_DAYS = (30, 60, 90)


def observed_until(data: CRMData) -> pd.Timestamp:
    """The last moment the data describes: its latest timestamp (the export time, in effect)."""
    return data.last_event()


def lead_snapshots(
    leads: pd.DataFrame,
    horizon_days: int,
    until: pd.Timestamp,
    policy: LeadSnapshotConfig | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Snapshots of leads over their whole open life, with `label` (1/0, missing if censored) and the age
    in days (`snapshot_day`).

    A lead is snapshotted at creation and at each multiple of `policy.every_days` while it is open (not
    converted or disqualified by then), no older than `policy.max_age_days` and no later than `until`;
    each of those later ages is kept with probability `policy.age_sample_rate`, drawn independently of
    the outcome, so the rows at any age are a fair sample of the leads open at that age. Seeded: same
    data and seed, same snapshots."""
    policy = policy or LeadSnapshotConfig()
    created_s = to_seconds(leads["created_at"])
    end_s = np.full(len(leads), int(until.timestamp()), dtype=np.int64)
    for col in ("converted_at", "disqualified_at"):  # open strictly before these
        s = to_seconds(leads[col])
        end_s = np.where(s >= 0, np.minimum(end_s, s - 1), end_s)
    open_now = end_s >= created_s
    step = policy.every_days * SECONDS_PER_DAY
    oldest = policy.max_age_days // policy.every_days
    ages = np.where(open_now, np.minimum((end_s - created_s) // step, oldest), 0)
    idx = [np.flatnonzero(open_now)]
    steps = [np.zeros(len(idx[0]), dtype=np.int64)]
    if policy.age_sample_rate > 0 and ages.sum():
        owner = np.repeat(np.arange(len(leads)), ages)
        k = np.arange(len(owner)) - np.repeat(np.cumsum(ages) - ages, ages) + 1
        keep = np.random.default_rng(seed).random(len(owner)) < policy.age_sample_rate
        idx.append(owner[keep])
        steps.append(k[keep])
    lead_idx, n_steps = np.concatenate(idx), np.concatenate(steps)
    as_of = pd.to_datetime(created_s[lead_idx] + n_steps * step, unit="s", utc=True)
    horizon = pd.Timedelta(days=horizon_days)
    converted_at = pd.DatetimeIndex(leads["converted_at"].to_numpy()[lead_idx])
    converted = np.asarray(converted_at.notna() & (converted_at <= as_of + horizon))
    known = converted | (as_of + horizon <= until)
    out = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy()[lead_idx],
            "as_of": as_of,
            "snapshot_day": n_steps * policy.every_days,
            "label": np.where(known, converted.astype(float), np.nan),
        }
    )
    return out.sort_values(["as_of", "lead_id"], kind="stable").reset_index(drop=True)


def opportunity_snapshots(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    open_stages: dict[str, set],
    until: pd.Timestamp,
    every_days: int = OPPORTUNITY_EVERY_DAYS,
    horizons: tuple[int, ...] = WIN_HORIZONS_DAYS,
) -> pd.DataFrame:
    """Snapshots of open deals with `won` and `won_{h}d` labels (missing when censored).

    `open_stages` maps each pipeline to its open stage keys.
    """
    opps = opportunities.drop_duplicates("opportunity_id")
    pipeline = stage_history["opportunity_id"].map(opps.set_index("opportunity_id")["pipeline"])
    key = pipeline + "\x1f" + stage_history["stage"]
    open_keys = {f"{p}\x1f{s}" for p, stages in open_stages.items() for s in stages}
    entries = stage_history[key.isin(open_keys)][["opportunity_id", "entered_at"]].rename(
        columns={"entered_at": "as_of"}
    )
    entries = entries.assign(kind="stage_entry")

    end = opps["closed_at"].fillna(until).clip(upper=until)
    span_days = ((end - opps["created_at"]).dt.total_seconds() / 86400).clip(lower=0).to_numpy()
    counts = np.floor(span_days / every_days).astype(int)
    idx = np.repeat(np.arange(len(opps)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    periodic = pd.DataFrame(
        {
            "opportunity_id": opps["opportunity_id"].to_numpy()[idx],
            "as_of": opps["created_at"].to_numpy(dtype="datetime64[ns]")[idx]
            + (k * every_days * 86400).astype("timedelta64[s]"),
            "kind": "periodic",
        }
    )
    snaps = pd.concat([entries, periodic], ignore_index=True)
    snaps["as_of"] = pd.to_datetime(snaps["as_of"], utc=True)
    snaps = snaps.drop_duplicates(["opportunity_id", "as_of"]).merge(
        opps[["opportunity_id", "created_at", "closed_at", "outcome"]], on="opportunity_id"
    )
    open_at = (snaps["closed_at"].isna() | (snaps["closed_at"] > snaps["as_of"])) & (snaps["as_of"] <= until)
    snaps = snaps[open_at & (snaps["as_of"] >= snaps["created_at"])].copy()

    closed = snaps["outcome"].isin(["won", "lost"])
    snaps["won"] = np.where(closed, (snaps["outcome"] == "won").astype(float), np.nan)
    for h in horizons:
        limit = snaps["as_of"] + pd.Timedelta(days=h)
        won_in = (snaps["outcome"] == "won") & (snaps["closed_at"] <= limit)
        known = won_in | closed | (limit <= until)
        snaps[f"won_{h}d"] = np.where(known, won_in.astype(float), np.nan)
    out = snaps.drop(columns=["created_at", "closed_at", "outcome"])

    return out.sort_values(["as_of", "opportunity_id"], kind="stable").reset_index(drop=True)
