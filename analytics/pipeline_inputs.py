"""Per open deal at a date: amount in the base currency, stage, configured weight, historical stage
rate and (given a win model's `predict`) P(won by the period end). Shared by the CLI, the API and
backtests, so every forecast goes through the same feature code and model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from funnelcast.analytics.forecast import base_amounts, open_deals, probability_by
from funnelcast.core.config import AppConfig
from funnelcast.features.frames import build_opportunity_features
from funnelcast.features.history import Rates
from funnelcast.features.io import CRMData

Predict = Callable[[pd.DataFrame], pd.DataFrame]  # opportunity features -> won, won_30d, won_60d, won_90d

DAY = pd.Timedelta(days=1)


def deal_inputs(
    data: CRMData,
    as_of: pd.Timestamp,
    period_end: pd.Timestamp,
    config: AppConfig,
    predict: Predict | None = None,
    rates: Rates | None = None,
) -> pd.DataFrame:
    """`data` as known at as_of. `predict`: the win model's probabilities of feature rows; `rates`: the
    model's frozen rates when a model scores (what it was trained with); without them historical
    rates are computed point in time from `data`."""
    opps = open_deals(data, as_of)
    if opps.empty:  # nothing open: every method forecasts 0
        columns = [
            "opportunity_id",
            "owner",
            "pipeline",
            "stage",
            "amount",
            "expected_close",
            "stage_weight",
            "historical_rate",
        ]
        out = pd.DataFrame(
            {
                c: pd.Series(dtype=float if c in ("amount", "stage_weight", "historical_rate") else object)
                for c in columns
            }
        )
        out["expected_close"] = pd.to_datetime(out["expected_close"], utc=True)
        return out
    snaps = pd.DataFrame({"opportunity_id": opps["opportunity_id"].to_numpy(), "as_of": as_of})
    features = build_opportunity_features(data, snaps, config, rates=rates)
    out = pd.DataFrame(
        {
            "opportunity_id": opps["opportunity_id"].to_numpy(),
            "owner": opps["owner"].to_numpy(),
            "pipeline": opps["pipeline"].to_numpy(),
            "stage": features["stage"].to_numpy(),
            "amount": base_amounts(opps, config),
            "expected_close": opps["expected_close_date"].to_numpy(),
            "stage_weight": features["stage_weight"].to_numpy(),
            "historical_rate": features["stage_win_rate"].to_numpy(),
        }
    )
    out["expected_close"] = pd.to_datetime(out["expected_close"], utc=True)
    if predict is not None and len(features):
        probs = predict(features)
        for col in ("won", "won_30d", "won_60d", "won_90d"):
            out[f"p_{col}"] = probs[col].to_numpy()
    return for_period(out, as_of, period_end)


def for_period(deals: pd.DataFrame, as_of: pd.Timestamp, period_end: pd.Timestamp) -> pd.DataFrame:
    """`deals` (from `deal_inputs`, for any period) with P(won by period_end) as `p_period`, where the
    win model's probabilities are there; the rest of a deal's inputs does not depend on the period."""
    if "p_won" not in deals.columns:
        return deals
    days = np.full(len(deals), (period_end - as_of) / DAY)
    out = deals.copy()
    out["p_period"] = probability_by(
        days,
        deals["p_won_30d"].to_numpy(),
        deals["p_won_60d"].to_numpy(),
        deals["p_won_90d"].to_numpy(),
        deals["p_won"].to_numpy(),
    )
    return out


def period_logit_sd(metadata: dict | None, days: float) -> float:
    """The model's period-level log-odds error (from its metadata) for the horizon nearest the period
    length."""
    spread = (metadata or {}).get("period_logit_sd", {})
    if not spread:
        return 0.0
    horizons = {
        int(k.removeprefix("won_").removesuffix("d")) if k != "won" else 180: v for k, v in spread.items()
    }
    nearest = min(horizons, key=lambda h: abs(h - days))
    return float(horizons[nearest])
