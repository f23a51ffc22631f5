"""Bulk scoring for marketing lists and nightly CRM syncs: every open lead or deal in a data
directory, scored with the serving model through the same feature functions and model as the API,
vectorised (reasons as the top contributions, as text columns)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from funnelcast.analytics.forecast import open_deals
from funnelcast.core.config import AppConfig
from funnelcast.features.bant import rule_grade
from funnelcast.features.frames import build_lead_features, build_opportunity_features
from funnelcast.features.io import CRMData
from funnelcast.model.bundle import batch_threads
from funnelcast.model.reasons import reason_texts
from funnelcast.serving.models import LoadedModel
from funnelcast.serving.scoring.deals import health, overall_rate

CHUNK = 100_000


def open_snapshots(data: CRMData, kind: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every lead (deal) that exists at as_of and is still open then."""
    if kind == "lead":
        leads = data.leads
        open_ = (
            (leads["created_at"] <= as_of)
            & ~(leads["converted_at"] <= as_of)
            & ~(leads["disqualified_at"] <= as_of)
        )
        return pd.DataFrame({"lead_id": leads.loc[open_, "lead_id"].to_numpy(), "as_of": as_of})
    return pd.DataFrame(
        {"opportunity_id": open_deals(data, as_of)["opportunity_id"].to_numpy(), "as_of": as_of}
    )


def score_data(
    data: CRMData,
    model: LoadedModel | None,
    kind: str,
    config: AppConfig,
    as_of: pd.Timestamp,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Scores of every open lead / deal at as_of, sorted by priority (highest first).

    Features are built once for all records (the event indexes are built once); prediction and
    reasons run in chunks to bound memory and report progress."""
    snaps = open_snapshots(data, kind, as_of)
    if not len(snaps):
        return pd.DataFrame()
    if kind == "lead":
        feats = build_lead_features(data, snaps, config)
    else:
        if model is None:
            raise ValueError("no win-probability model is loaded; train and promote one first")
        feats = build_opportunity_features(data, snaps, config, rates=model.rates)
    parts = []
    for start in range(0, len(snaps), CHUNK):
        rows = slice(start, start + CHUNK)
        parts.append(
            _score_chunk(
                model,
                kind,
                config,
                snaps.iloc[rows].reset_index(drop=True),
                feats.iloc[rows].reset_index(drop=True),
            )
        )
        if progress:
            progress(min(start + CHUNK, len(snaps)), len(snaps))
    out = pd.concat(parts, ignore_index=True)
    key = "p_won" if kind == "opportunity" else ("probability" if model is not None else "rule_points")
    return out.sort_values(key, ascending=False, kind="stable").reset_index(drop=True)


def _score_chunk(
    model: LoadedModel | None, kind: str, config: AppConfig, snaps: pd.DataFrame, feats: pd.DataFrame
) -> pd.DataFrame:
    if kind == "lead":
        points = feats["bant_rule_points"].to_numpy()
        out = pd.DataFrame(
            {
                "lead_id": snaps["lead_id"],
                "rule_points": points,
                "rule_grade": rule_grade(points, config.leads.rule_grade),
            }
        )
        if model is None:
            out["grade"], out["model_version"] = out["rule_grade"], "bant-rule-grade"
            return out
        b = model.bundle
        # the lead bundle has one target: probability and reasons from one pass over the trees
        p, contrib = b.targets[b.primary].predict_and_contributions(
            b.matrix(feats), batch_threads(len(feats))
        )
        up, down = reason_texts(contrib, b.columns)
        out.insert(1, "probability", np.round(p, 6))
        out.insert(2, "score", np.round(100 * p, 1))
        out.insert(3, "grade", b.grade(p))
        out["reasons_up"], out["reasons_down"] = up, down
        out["model_version"] = f"{model.name}:{model.version}"
        return out
    b = model.bundle
    x = b.matrix(feats)
    probs, contrib = b.predict_and_explain(x, batch_threads(len(feats)))
    score, band = health(
        probs["won"],
        feats["stage_win_rate"].to_numpy(dtype=float),
        overall_rate(model.rates, probs["won"]),
        config.funnel.health,
    )
    up, down = reason_texts(contrib, b.columns)
    return pd.DataFrame(
        {
            "opportunity_id": snaps["opportunity_id"],
            "stage": feats["stage"],
            **{f"p_{c}": np.round(v, 6) for c, v in probs.items()},
            "stage_weight": feats["stage_weight"],
            "historical_stage_win_rate": feats["stage_win_rate"].round(6),
            "health_score": score,
            "health": band,
            "days_in_stage": feats["days_in_stage"].round(1),
            "close_date_slips": feats["close_date_slips"],
            "days_overdue": feats["days_overdue"].round(1),
            "reasons_up": up,
            "reasons_down": down,
            "model_version": f"{model.name}:{model.version}",
        }
    )
