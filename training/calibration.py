"""Choose and fit a probability calibrator on the validation period."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from funnelcast.model.bundle import Calibrator, logit


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str) -> Calibrator:
    if method == "isotonic":
        return Calibrator(
            "isotonic", isotonic=IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw, y)
        )
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(logit(raw)[:, None], y)
    return Calibrator("sigmoid", a=float(platt.coef_[0, 0]), b=float(platt.intercept_[0]))


def choose_calibrator(raw: np.ndarray, y: np.ndarray, seed: int) -> tuple[Calibrator, dict[str, float]]:
    """Isotonic or sigmoid, whichever has the lower cross-validated log loss on validation; then
    refit on the whole validation period. Returns the calibrator and the CV log losses."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    losses = {}
    for method in ("isotonic", "sigmoid"):
        pred = np.empty(len(y))
        for fit_idx, held in folds.split(raw, y):
            pred[held] = fit_calibrator(raw[fit_idx], y[fit_idx], method)(raw[held])
        losses[method] = float(log_loss(y, np.clip(pred, 1e-6, 1 - 1e-6)))
    best = min(losses, key=losses.get)
    return fit_calibrator(raw, y, best), losses
