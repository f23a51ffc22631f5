"""Training snapshots and labels, right-censoring handled.

Lead snapshots: at creation and 1, 7, 14, 30 days later while the lead is still open (not converted,
not disqualified); label "converted within H days". Opportunity snapshots: at each open-stage entry
and every 14 days while open; labels "won eventually" and "won within 30 / 60 / 90 days".
A label whose horizon runs past the end of the observed data, without the event having happened,
is unknown (missing), never negative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.features.io import CRMData

LEAD_OFFSETS_DAYS = (0, 1, 7, 14, 30)
OPPORTUNITY_EVERY_DAYS = 14
WIN_HORIZONS_DAYS = (30, 60, 90)


def observed_until(data: CRMData) -> pd.Timestamp:
    """The last moment the data describes: its latest timestamp (the export time, in effect)."""
    stamps = [
        data.leads["created_at"],
        data.leads["converted_at"],
        data.leads["disqualified_at"],
        data.activities["occurred_at"],
        data.opportunities["created_at"],
        data.opportunities["closed_at"],
        data.stage_history["entered_at"],
        data.close_date_history["changed_at"],
        data.amount_history["changed_at"],
    ]
    return max(s.max() for s in stamps if s.notna().any())


def lead_snapshots(
    leads: pd.DataFrame,
    horizon_days: int,
    until: pd.Timestamp,
    offsets_days: tuple[int, ...] = LEAD_OFFSETS_DAYS,
) -> pd.DataFrame:
    """One row per (lead, offset) while the lead is open, with `label` (1/0, missing if censored)."""
    frames = []
    horizon = pd.Timedelta(days=horizon_days)
    for offset in offsets_days:
        as_of = leads["created_at"] + pd.Timedelta(days=offset)
        still_open = (leads["converted_at"].isna() | (leads["converted_at"] > as_of)) & (
            leads["disqualified_at"].isna() | (leads["disqualified_at"] > as_of)
        )
        keep = still_open & (as_of <= until)
        converted = leads["converted_at"].notna() & (leads["converted_at"] <= as_of + horizon)
        known = converted | (as_of + horizon <= until)
        frames.append(
            pd.DataFrame(
                {
                    "lead_id": leads["lead_id"][keep],
                    "as_of": as_of[keep],
                    "snapshot_day": offset,
                    "label": np.where(known, converted.astype(float), np.nan)[keep.to_numpy()],
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
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
