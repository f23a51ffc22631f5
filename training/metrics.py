"""Evaluation metrics for probabilities: discrimination, calibration, lift, rates per group."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width probability bins: sum of |mean predicted - observed| weighted by bin size."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.mean() * abs(p[sel].mean() - y[sel].mean())
    return float(total)


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Positive rate among the top 10 % by score, divided by the overall positive rate."""
    n = max(1, int(np.ceil(0.1 * len(y))))
    order = np.argsort(-score, kind="stable")
    base = y.mean()
    return float(y[order[:n]].mean() / base) if base > 0 else float("nan")


def probability_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, log loss, Brier, ECE (10 bins) and top-decile lift."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "top_decile_lift": top_decile_lift(y, p),
        "n": float(len(y)),
        "positive_rate": float(y.mean()),
    }


def rate_by_group(y: np.ndarray, groups: np.ndarray, name: str) -> pd.DataFrame:
    """Count and positive rate per group value (missing shown as '(missing)')."""
    frame = pd.DataFrame({name: pd.Series(groups).astype("str").fillna("(missing)").to_numpy(), "y": y})
    out = frame.groupby(name)["y"].agg(n="size", rate="mean").reset_index()
    return out


def segment_metrics(
    y: np.ndarray, predictions: dict[str, np.ndarray], segments: pd.Series, min_rows: int = 50
) -> pd.DataFrame:
    """ROC AUC and log loss of each method within each segment value that has enough rows."""
    rows = []
    values = segments.astype("str").fillna("(missing)").to_numpy()
    for value in pd.unique(values):
        sel = values == value
        if sel.sum() < min_rows or len(np.unique(y[sel])) < 2:
            continue
        for method, p in predictions.items():
            m = probability_metrics(y[sel], p[sel])
            rows.append(
                {
                    "segment": segments.name,
                    "value": value,
                    "method": method,
                    "n": int(sel.sum()),
                    "roc_auc": m["roc_auc"],
                    "log_loss": m["log_loss"],
                    "positive_rate": m["positive_rate"],
                }
            )
    return pd.DataFrame(rows)
