"""Test-period evaluation of a model beside its baselines: one table of metrics per target, rates
per grade or stage, metrics per segment, per lead age and per stage, and calibration per month with
drift warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.core.config import DriftConfig
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


AGE_BUCKETS = (
    (0, 30, "0-30 d"),
    (30, 90, "30-90 d"),
    (90, 180, "90-180 d"),
    (180, 365, "180-365 d"),
    (365, float("inf"), "> 365 d"),
)


def age_bucket(age_days: np.ndarray) -> np.ndarray:
    """The lead-age bucket of each age in days (0-30, 30-90, 90-180, 180-365, > 365)."""
    age = np.asarray(age_days, dtype=float)
    out = np.full(len(age), AGE_BUCKETS[-1][2], dtype=object)
    for lo, hi, name in AGE_BUCKETS:
        out[(age >= lo) & (age < hi)] = name
    return out


def by_group_table(
    y: np.ndarray,
    methods: dict[str, np.ndarray],
    groups: np.ndarray,
    name: str,
    order: list[str] | None = None,
) -> pd.DataFrame:
    """Per group value and method: rows, observed rate, mean prediction, ROC AUC, log loss and ECE
    (calibration where the model is used: a lead of every age, a deal in every stage)."""
    rows = []
    values = order or [v for v in pd.unique(groups) if isinstance(v, str)]
    for value in values:
        sel = groups == value
        if not sel.any():
            continue
        for method, p in methods.items():
            m = probability_metrics(y[sel], p[sel])
            rows.append(
                {
                    name: value,
                    "method": method,
                    "n": int(sel.sum()),
                    "positive_rate": m["positive_rate"],
                    "mean_predicted": float(np.mean(p[sel])),
                    "roc_auc": m["roc_auc"],
                    "log_loss": m["log_loss"],
                    "ece": m["ece"],
                }
            )
    return pd.DataFrame(rows)


def calibration_by_month(
    y: np.ndarray, p: np.ndarray, as_of: pd.Series, weight: np.ndarray | None = None
) -> pd.DataFrame:
    """Calibration in the large per calendar month of the snapshot: observed against predicted rate."""
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    month = pd.DatetimeIndex(as_of).tz_convert("UTC").strftime("%Y-%m")
    frame = pd.DataFrame({"month": month, "y": y * w, "p": p * w, "w": w, "n": 1})
    out = frame.groupby("month", sort=True).agg(
        n=("n", "sum"), w=("w", "sum"), y=("y", "sum"), p=("p", "sum")
    )
    out["observed"] = out["y"] / out["w"]
    out["predicted"] = out["p"] / out["w"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["odds_ratio"] = (out["observed"] / (1 - out["observed"])) / (
            out["predicted"] / (1 - out["predicted"])
        )
    return out.reset_index()[["month", "n", "observed", "predicted", "odds_ratio"]]


def drift_warnings(table: pd.DataFrame, cfg: DriftConfig, what: str) -> list[str]:
    """A warning for each month whose observed rate strays from the mean prediction beyond the configured
    odds ratio, with enough rows for the gap to be more than noise (odds, not rates: a 60 % base rate
    cannot double)."""
    out = []
    for r in table.itertuples(index=False):
        if r.n < cfg.min_rows or not 0 < r.predicted < 1 or not np.isfinite(r.odds_ratio):
            continue
        se = np.sqrt(r.predicted * (1 - r.predicted) / r.n)
        outside = r.odds_ratio > cfg.max_odds_ratio or r.odds_ratio < 1 / cfg.max_odds_ratio
        if outside and abs(r.observed - r.predicted) > cfg.z * se:
            direction = "above" if r.observed > r.predicted else "below"
            out.append(
                f"drift: in {r.month} {what} was {r.observed:.1%}, {direction} the model's mean "
                f"prediction of {r.predicted:.1%} ({r.n:,} rows; odds ratio {r.odds_ratio:.2f}, allowed "
                f"{1 / cfg.max_odds_ratio:.2f}-{cfg.max_odds_ratio:g}): the model may be out of date for "
                "recent data; retrain, and check what changed (sources, campaigns, definitions)"
            )
    return out
