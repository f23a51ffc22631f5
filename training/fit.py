"""Fit the candidates for one target, choose on validation, calibrate on validation."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from sklearn.metrics import roc_auc_score

from funnelcast.core.config import TrainingConfig
from funnelcast.model.bundle import TargetModel
from funnelcast.model.logistic import LogisticModel
from funnelcast.training.calibration import choose_calibrator

logger = logging.getLogger(__name__)


@dataclass
class FitReport:
    chosen: str
    validation_auc: dict[str, float]
    calibration: str
    calibration_cv_log_loss: dict[str, float]
    best_iteration: int | None


def fit_lightgbm(x_tr, y_tr, x_va, y_va, categorical: list[int], cfg: TrainingConfig) -> lgb.LGBMClassifier:
    p = cfg.lightgbm
    model = lgb.LGBMClassifier(
        n_estimators=p.n_estimators,
        learning_rate=p.learning_rate,
        num_leaves=p.num_leaves,
        max_depth=p.max_depth,
        min_child_samples=p.min_child_samples,
        subsample=p.subsample,
        subsample_freq=1,
        colsample_bytree=p.colsample_bytree,
        reg_lambda=p.reg_lambda,
        random_state=cfg.seed,
        n_jobs=cfg.num_threads,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
    )
    model.fit(
        x_tr,
        y_tr,
        eval_X=(x_va,),
        eval_y=(y_va,),
        eval_metric="binary_logloss",
        categorical_feature=categorical,
        callbacks=[lgb.early_stopping(p.early_stopping_rounds, verbose=False)],
    )
    return model


def fit_target(
    name: str,
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_va: np.ndarray,
    y_va: np.ndarray,
    categorical: list[int],
    cfg: TrainingConfig,
) -> tuple[TargetModel, TargetModel, FitReport]:
    """Returns (chosen model, logistic-regression model, report). Both are calibrated on validation;
    the logistic one is also the baseline of the same name."""
    gbm = fit_lightgbm(x_tr, y_tr, x_va, y_va, categorical, cfg)
    logistic = LogisticModel(categorical, C=cfg.logistic_regression.C, seed=cfg.seed).fit(x_tr, y_tr)
    raw = {"lightgbm": gbm.booster_.predict(x_va), "logistic_regression": logistic.predict_proba(x_va)[:, 1]}
    auc = {k: float(roc_auc_score(y_va, v)) for k, v in raw.items()}
    chosen = max(auc, key=lambda k: (auc[k], k == "lightgbm"))
    calibrated = {}
    losses = {}
    for algo, est in (("lightgbm", gbm), ("logistic_regression", logistic)):
        calibrator, cv = choose_calibrator(raw[algo], y_va, cfg.seed)
        calibrated[algo] = TargetModel(name, algo, est, calibrator)
        losses[algo] = cv
    best_iter = int(gbm.best_iteration_) if gbm.best_iteration_ else None
    logger.info(
        "%s: validation ROC AUC %s -> %s, calibration %s",
        name,
        auc,
        chosen,
        calibrated[chosen].calibrator.method,
    )
    report = FitReport(chosen, auc, calibrated[chosen].calibrator.method, losses[chosen], best_iter)
    return calibrated[chosen], calibrated["logistic_regression"], report


def hot_target(base: float, hot_lift: float) -> float:
    """The conversion rate Hot must reach: `hot_lift` x the base rate or `hot_lift` times fewer failures
    than average (1 - (1 - base) / hot_lift), whichever is less demanding. Multiplying the rate is
    the rule for base rates below 1 / (hot_lift + 1) (25 % for a lift of 3); above that it soon becomes
    impossible (a base rate of 38 % cannot triple) and would leave Hot empty."""
    return min(hot_lift * base, 1.0 - (1.0 - base) / hot_lift)


def grade_thresholds(
    p: np.ndarray, y: np.ndarray, hot_lift: float, cold_lift: float, min_rows: int = 30
) -> dict[str, float]:
    """Hot and Warm cut-offs chosen on validation from lift targets.

    Hot is the largest top group whose conversion rate reaches `hot_target` (`hot_lift` x the base
    rate, or `hot_lift` times fewer failures when the base rate is too high to multiply);
    Cold the largest bottom group whose rate is at most `cold_lift` x the base rate; Warm between.
    """
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order].astype(float)
    base = ys.mean()
    n = len(ys)
    k = np.arange(1, n + 1)
    top_rate = np.cumsum(ys) / k
    ok_top = np.flatnonzero((top_rate >= hot_target(base, hot_lift)) & (k >= min_rows))
    hot = float(ps[ok_top.max()]) if ok_top.size else float(ps[0]) + 1e-9
    bottom_rate = np.cumsum(ys[::-1]) / k
    ok_bottom = np.flatnonzero((bottom_rate <= cold_lift * base) & (k >= min_rows))
    # warm threshold: just above the largest qualifying Cold group's highest probability
    warm = float(ps[::-1][ok_bottom.max()]) + 1e-12 if ok_bottom.size else float(ps[-1])
    warm = min(warm, hot)
    return {"hot": hot, "warm": warm, "base_rate": float(base)}
