"""Choose and fit a probability calibrator on the validation period."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from funnelcast.model.bundle import Calibrator, logit


def fit_calibrator(
    raw: np.ndarray, y: np.ndarray, method: str, weight: np.ndarray | None = None
) -> Calibrator:
    if method == "isotonic":
        isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(
            raw, y, sample_weight=weight
        )
        return Calibrator("isotonic", isotonic=isotonic)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(logit(raw)[:, None], y, sample_weight=weight)
    return Calibrator("sigmoid", a=float(platt.coef_[0, 0]), b=float(platt.intercept_[0]))


def choose_calibrator(
    raw: np.ndarray, y: np.ndarray, seed: int, weight: np.ndarray | None = None
) -> tuple[Calibrator, dict[str, float]]:
    """Isotonic or sigmoid, whichever has the lower cross-validated (weighted) log loss on validation;
    then refit on the whole validation period. Returns the calibrator and the CV log losses."""
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    losses = {}
    for method in ("isotonic", "sigmoid"):
        pred = np.empty(len(y))
        for fit_idx, held in folds.split(raw, y):
            pred[held] = fit_calibrator(raw[fit_idx], y[fit_idx], method, w[fit_idx])(raw[held])
        losses[method] = float(log_loss(y, np.clip(pred, 1e-6, 1 - 1e-6), sample_weight=w))
    best = min(losses, key=losses.get)
    return fit_calibrator(raw, y, best, w), losses
