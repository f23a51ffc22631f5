"""Fit the candidates for one target, choose on validation, calibrate on validation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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
    gain_share: list[float] = field(default_factory=list)  # LightGBM's split gain per feature, as a share


def fit_lightgbm(
    x_tr, y_tr, x_va, y_va, categorical: list[int], cfg: TrainingConfig, w_tr=None, w_va=None
) -> lgb.LGBMClassifier:
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
        sample_weight=w_tr,
        eval_X=(x_va,),
        eval_y=(y_va,),
        eval_sample_weight=None if w_va is None else [w_va],
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
    w_tr: np.ndarray | None = None,
    w_va: np.ndarray | None = None,
) -> tuple[TargetModel, TargetModel, FitReport]:
    """Returns (chosen model, logistic-regression model, report). Both are calibrated on validation;
    the logistic one is also the baseline of the same name. Rows weigh `w_tr` / `w_va` (each entity
    once, however many snapshots it has)."""
    gbm = fit_lightgbm(x_tr, y_tr, x_va, y_va, categorical, cfg, w_tr, w_va)
    logistic = LogisticModel(categorical, C=cfg.logistic_regression.C, seed=cfg.seed).fit(x_tr, y_tr, w_tr)
    raw = {"lightgbm": gbm.booster_.predict(x_va), "logistic_regression": logistic.predict_proba(x_va)[:, 1]}
    auc = {k: float(roc_auc_score(y_va, v, sample_weight=w_va)) for k, v in raw.items()}
    chosen = max(auc, key=lambda k: (auc[k], k == "lightgbm"))
    calibrated = {}
    losses = {}
    for algo, est in (("lightgbm", gbm), ("logistic_regression", logistic)):
        calibrator, cv = choose_calibrator(raw[algo], y_va, cfg.seed, w_va)
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
    gain = gbm.booster_.feature_importance("gain").astype(float)
    share = (gain / gain.sum()).tolist() if gain.sum() > 0 else [0.0] * len(gain)
    report = FitReport(chosen, auc, calibrated[chosen].calibrator.method, losses[chosen], best_iter, share)
    return calibrated[chosen], calibrated["logistic_regression"], report
