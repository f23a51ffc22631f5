"""Test-period evaluation of a model beside its baselines: one table of metrics per target, rates
per grade or stage, and metrics per segment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.training.metrics import probability_metrics, rate_by_group, segment_metrics


def metrics_table(target: str, y: np.ndarray, methods: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = [{"target": target, "method": name, **probability_metrics(y, p)} for name, p in methods.items()]
    return pd.DataFrame(rows)


def grade_table(y: np.ndarray, grades: dict[str, np.ndarray]) -> pd.DataFrame:
    """Conversion (or win) rate per grade for each grading method."""
    parts = []
    for method, g in grades.items():
        table = rate_by_group(y, g, "grade")
        table.insert(0, "method", method)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def stage_table(y: np.ndarray, features: pd.DataFrame, p_model: np.ndarray) -> pd.DataFrame:
    """Per stage: deals, actual win rate, mean model probability, configured weight, historical rate."""
    frame = pd.DataFrame(
        {
            "pipeline": features["pipeline"].to_numpy(),
            "stage": features["stage"].to_numpy(),
            "won": y,
            "model": p_model,
            "weight": features["stage_weight"].to_numpy(),
            "historical": features["stage_win_rate"].to_numpy(),
        }
    )
    out = (
        frame.groupby(["pipeline", "stage"], sort=False)
        .agg(
            n=("won", "size"),
            win_rate=("won", "mean"),
            model_mean=("model", "mean"),
            configured_weight=("weight", "first"),
            historical_rate=("historical", "mean"),
        )
        .reset_index()
    )
    return out


def segments_table(
    y: np.ndarray, methods: dict[str, np.ndarray], features: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    parts = [segment_metrics(y, methods, features[c].rename(c)) for c in columns if c in features]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
