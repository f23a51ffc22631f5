"""Simple baselines evaluated beside every model on the same test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.core.config import RulePoints
from funnelcast.features.bant import rule_grade


def bant_rule_baseline(
    points_train: np.ndarray, y_train: np.ndarray, points_test: np.ndarray, cfg: RulePoints
) -> tuple[np.ndarray, np.ndarray]:
    """The transparent BANT grade, turned into a probability by its conversion rate in training.

    Returns (probability per test row, grade per test row)."""
    train_grade = rule_grade(points_train, cfg)
    rates = pd.Series(y_train).groupby(train_grade).mean()
    prior = float(np.mean(y_train))
    test_grade = rule_grade(points_test, cfg)
    return pd.Series(test_grade).map(rates).fillna(prior).to_numpy(dtype=float), test_grade


def stage_weight_baseline(features: pd.DataFrame) -> np.ndarray:
    """The configured stage weight, used as a win probability the way weighted forecasts use it."""
    return np.clip(features["stage_weight"].to_numpy(dtype=float), 0.0, 1.0)


def stage_rate_baseline(features: pd.DataFrame, fallback: float) -> np.ndarray:
    """The historical (point-in-time) win rate of deals that passed the deal's current stage."""
    return np.nan_to_num(features["stage_win_rate"].to_numpy(dtype=float), nan=fallback)
