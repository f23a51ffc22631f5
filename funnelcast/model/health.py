"""Deal health: P(won) read against what deals in its stage usually achieve, as a 0-100 score and a
band (funnel.yaml `health`). The API, bulk scoring, Spark and the pyfunc call these."""

from __future__ import annotations

import numpy as np

from funnelcast.core.config import HealthConfig
from funnelcast.features.history import Rates


def health(
    p_won: np.ndarray, stage_rate: np.ndarray, overall: float, rules: HealthConfig
) -> tuple[np.ndarray, np.ndarray]:
    """0-100: 50 when P(won) equals what deals in its stage usually achieve, rising to 100 as P(won)
    nears 1 and falling to 0 as it nears 0 (100 * p ** (ln 0.5 / ln base)). Bands from funnel.yaml
    `health`: healthy, at_risk, critical."""
    usable = np.isfinite(stage_rate) & (stage_rate > 0) & (stage_rate < 1)
    base = np.clip(np.where(usable, stage_rate, overall), 0.01, 0.99)
    score = np.round(100.0 * np.clip(p_won, 0.0, 1.0) ** (np.log(0.5) / np.log(base)), 1)
    band = np.where(
        score >= rules.healthy_min, "healthy", np.where(score >= rules.at_risk_min, "at_risk", "critical")
    )
    return score, band


def overall_rate(rates: Rates | None, fallback: np.ndarray) -> float:
    if rates is not None and len(rates.overall_win):
        value = float(rates.overall_win["win_rate"].iloc[-1])
        if np.isfinite(value):
            return value
    return float(np.nanmean(fallback)) if len(fallback) else 0.5
