"""Leakage alarm: a single feature that predicts the label almost perfectly is almost always a
column filled in after the outcome. Training refuses to register a model with one unless allowed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

THRESHOLD = 0.95


@dataclass(frozen=True)
class LeakSuspect:
    feature: str
    roc_auc: float

    def __str__(self) -> str:
        return f"{self.feature}: single-feature ROC AUC {self.roc_auc:.3f}"


def single_feature_auc(values: pd.Series, labels: np.ndarray, seed: int = 0) -> float:
    """ROC AUC of one feature alone, direction-free (max of AUC and 1 - AUC).

    Numbers rank as they are (missing as its own lowest value); categories are target-encoded out of
    fold (two folds), so a column that is merely high-cardinality does not look predictive.
    """
    if pd.api.types.is_numeric_dtype(values):
        x = values.to_numpy(dtype=float)
        present = x[~np.isnan(x)]
        score = np.where(np.isnan(x), present.min() - 1 if present.size else 0.0, x)
    else:
        text = values.astype("str").fillna("\x00missing")
        fold = np.random.default_rng(seed).integers(0, 2, len(text))
        prior = labels.mean()
        score = np.empty(len(text))
        for f in (0, 1):
            train = pd.DataFrame({"v": text[fold != f].to_numpy(), "y": labels[fold != f]})
            stats = train.groupby("v")["y"].agg(["sum", "count"])
            rate = (stats["sum"] + prior) / (stats["count"] + 1)
            score[fold == f] = text[fold == f].map(rate).fillna(prior).to_numpy()
    if np.unique(score).size < 2:
        return 0.5
    auc = roc_auc_score(labels, score)
    return float(max(auc, 1 - auc))


def leakage_alarm(
    features: pd.DataFrame, labels: pd.Series | np.ndarray, threshold: float = THRESHOLD
) -> list[LeakSuspect]:
    """Features whose single-feature ROC AUC on labelled rows exceeds `threshold`, worst first."""
    y = np.asarray(labels, dtype=float)
    known = ~np.isnan(y)
    y = y[known].astype(int)
    if len(np.unique(y)) < 2:
        return []
    suspects = [
        LeakSuspect(col, auc)
        for col in features.columns
        if (auc := single_feature_auc(features[col][known].reset_index(drop=True), y)) > threshold
    ]
    return sorted(suspects, key=lambda s: -s.roc_auc)
