"""A plain summary of a loaded CRM data set: sizes, date range, stages, conversion and win rates."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from funnelcast.core.config import FunnelConfig
from funnelcast.features.io import CRMData


@dataclass(frozen=True)
class DataSummary:
    rows: dict[str, int]
    first_event: pd.Timestamp | None
    last_event: pd.Timestamp | None
    lead_conversion_rate: float
    win_rate_closed: float
    deals_by_stage: pd.DataFrame  # pipeline, stage, deals (current stage of every deal)


def summarise(data: CRMData, funnel: FunnelConfig) -> DataSummary:
    """Rows per entity, the span of timestamps, conversion and win rates, and deals per current stage."""
    rows = {name: len(frame) for name, frame in data.frames().items()}
    times = [data.leads["created_at"], data.activities["occurred_at"], data.stage_history["entered_at"]]
    stamps = pd.concat([t.dropna() for t in times if len(t)])
    closed = data.opportunities["outcome"].isin(["won", "lost"])
    win_rate = (
        float((data.opportunities["outcome"][closed] == "won").mean()) if closed.any() else float("nan")
    )
    conv = float(data.leads["converted_at"].notna().mean()) if len(data.leads) else float("nan")
    current = data.stage_history.sort_values("entered_at", kind="stable").drop_duplicates(
        "opportunity_id", keep="last"
    )
    current = current.merge(data.opportunities[["opportunity_id", "pipeline"]], on="opportunity_id")
    order = {(p.key, s): i for p in funnel.pipelines for i, s in enumerate(p.stage_keys)}
    by_stage = current.groupby(["pipeline", "stage"]).size().rename("deals").reset_index()
    by_stage["_order"] = [
        order.get((p, s), 99) for p, s in zip(by_stage["pipeline"], by_stage["stage"], strict=True)
    ]
    by_stage = by_stage.sort_values(["pipeline", "_order"]).drop(columns="_order").reset_index(drop=True)
    return DataSummary(
        rows,
        stamps.min() if len(stamps) else None,
        stamps.max() if len(stamps) else None,
        conv,
        win_rate,
        by_stage,
    )
