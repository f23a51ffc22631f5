"""Train, evaluate, gate and register a lead-grading or win-probability model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from funnelcast.analytics.forecast import logit_shock_sd
from funnelcast.core.config import AppConfig
from funnelcast.core.errors import EXIT_TRAINING, FunnelcastError
from funnelcast.features.frames import declarations, snapshot_rates
from funnelcast.features.history import week_start
from funnelcast.features.io import CRMData
from funnelcast.features.sets import feature_set
from funnelcast.model.bundle import ModelBundle
from funnelcast.model.stale import learn_stale_days
from funnelcast.training import baselines
from funnelcast.training.dataset import LabelledSet, lead_dataset, opportunity_dataset
from funnelcast.training.evaluate import (
    AGE_BUCKETS,
    age_bucket,
    by_group_table,
    calibration_by_month,
    drift_warnings,
    grade_table,
    metrics_table,
    segments_table,
    stage_table,
)
from funnelcast.training.fit import FitReport, fit_target
from funnelcast.training.grades import grade_thresholds
from funnelcast.training.leakage import leakage_report
from funnelcast.training.snapshots import OPPORTUNITY_EVERY_DAYS

logger = logging.getLogger(__name__)
Progress = Callable[[str], None]


class TrainingRefused(FunnelcastError):
    """A gate stopped training or registration; the message says which and why."""

    exit_code, code = EXIT_TRAINING, "training_refused"


@dataclass
class TrainOutcome:
    kind: str
    bundle: ModelBundle
    metrics: pd.DataFrame  # target, method, roc_auc, pr_auc, log_loss, brier, ece, top_decile_lift, n
    by_group: pd.DataFrame  # rate per grade (leads) or per stage (opportunities) on the test period
    segments: pd.DataFrame
    reports: dict[str, FitReport]
    test_frame: pd.DataFrame  # test features + labels: what promotion re-scores
    by_age: pd.DataFrame | None = None  # per lead-age bucket (leads) or stage (deals), test period
    by_month: pd.DataFrame | None = None  # calibration in the large per test month
    leakage: pd.DataFrame | None = None  # single-feature ROC AUC and gain share per feature
    warnings: list[str] = field(default_factory=list)  # leakage, drift, grades: what a person must know
    plots: dict[str, Path] = field(default_factory=dict)
    run_id: str | None = None
    version: str | None = None
    frame_of: Callable[[str], pd.DataFrame] | None = None  # a split's ids, labels and features (lineage)


def _categories(features: pd.DataFrame, rows: np.ndarray, columns: list[str]) -> dict[str, list[str]]:
    return {c: sorted(pd.unique(features[c].iloc[rows].dropna()).tolist()) for c in columns}


def _used_declarations(custom_attributes: pd.DataFrame, columns: list[str]) -> list[dict]:
    """The custom attributes the model uses, as declared (serving types request fields with them)."""
    from funnelcast.features.custom import feature_name

    return [d for d in declarations(custom_attributes) if feature_name(d["entity"], d["name"]) in columns]


def _gate_counts(y: np.ndarray, target: str, config: AppConfig) -> None:
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    need_p, need_n = config.training.min_positive, config.training.min_negative
    if pos < need_p or neg < need_n:
        raise TrainingRefused(
            f"not enough labelled examples to train {target!r}: {pos} positive and {neg} negative in the "
            f"training period; need at least {need_p} and {need_n} (training.yaml min_positive / "
            "min_negative). Until then the transparent BANT rule grade is what gets served."
        )


def _gate_predictions(p: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        raise TrainingRefused(
            f"{what}: {int(bad.sum())} predictions are NaN or outside [0, 1]; not registering"
        )


def train_model(
    kind: str, data: CRMData, config: AppConfig, *, progress: Progress | None = None
) -> TrainOutcome:
    """Build snapshots and features, fit, calibrate, evaluate against baselines where the model is used
    (leads of every age, deals in every stage, every test month); no MLflow here."""
    step = progress or (lambda _m: None)
    step("building point-in-time snapshots and features")
    ds = lead_dataset(data, config) if kind == "lead" else opportunity_dataset(data, config)
    fset = feature_set(
        "lead_v1" if kind == "lead" else "opportunity_v1",
        config,
        declarations(data.custom_attributes),
        include_leaky=config.training.include_leaky_attributes,
    )
    columns = fset.columns
    train_any = np.unique(np.concatenate([ds.rows("train", t) for t in ds.targets]))
    categories = _categories(ds.features, train_any, fset.categorical)
    bundle = ModelBundle(kind, fset.name, columns, categories, {}, primary=ds.targets[0])
    x_all = bundle.matrix(ds.features)
    cat_idx = [columns.index(c) for c in fset.categorical]

    reports: dict[str, FitReport] = {}
    lr_models = {}
    for target in ds.targets:
        tr, va = ds.rows("train", target), ds.rows("validation", target)
        y_tr = ds.snapshots[target].to_numpy()[tr].astype(int)
        _gate_counts(y_tr, target, config)
        step(f"fitting {target}: LightGBM and logistic regression on {len(tr):,} rows")
        y_va = ds.snapshots[target].to_numpy()[va].astype(int)
        model, lr, reports[target] = fit_target(
            target, x_all[tr], y_tr, x_all[va], y_va, cat_idx, config.training, ds.weights(tr), ds.weights(va)
        )
        bundle.targets[target] = model
        lr_models[target] = lr
    step("checking for leakage")
    primary_train = ds.rows("train", bundle.primary)
    leakage = leakage_report(
        ds.features[columns].iloc[primary_train].reset_index(drop=True),
        ds.snapshots[bundle.primary].to_numpy()[primary_train],
        dict(zip(columns, reports[bundle.primary].gain_share, strict=True)),
        config.training.leakage,
        config.training.allow_leaky,
        {s.name for s in fset.specs if s.window in ("as captured", "value as exported")},
    )
    if leakage.blocked:
        top = leakage.table.set_index("feature")["single_auc"]
        raise TrainingRefused(
            "leakage alarm, registration stopped: "
            + "; ".join(f"{f}: single-feature ROC AUC {top[f]:.3f}" for f in leakage.blocked)
            + ". A feature this predictive is almost always filled in after the outcome. "
            "Remove it, or list it under allow_leaky in training.yaml if you are sure."
        )
    warnings = list(leakage.warnings)

    step("evaluating on the test period against baselines")
    grade_cut = None
    if kind == "lead":
        va = ds.rows("validation", "converted")
        p_va = bundle.targets["converted"].predict(x_all[va])
        y_va = ds.snapshots["converted"].to_numpy()[va]
        g = config.leads.grades
        if g.method == "targets":
            grade_cut = grade_thresholds(
                p_va, y_va, g.hot_lift, g.cold_lift, ds.weights(va), config.training.grades.min_share
            )
            bundle.thresholds = grade_cut.thresholds()
            # a grade left empty or thin is a warning; how the targets gave way is said in the grade notes
            warnings += [
                f"grades: {note}"
                for note in grade_cut.notes
                if "empty" in note or "cannot" in note or "less than" in note
            ]
        else:
            bundle.thresholds = {"hot": g.hot_cutoff, "warm": g.warm_cutoff, "base_rate": float(y_va.mean())}
    else:
        until_s = int(ds.until.value // 10**9)
        ref = int(week_start(np.array([until_s]))[0])
        rates = snapshot_rates(data, pd.DataFrame({"as_of": [pd.Timestamp(ref, unit="s", tz="UTC")]}), config)
        bundle.rates = rates.frozen_at(ref).to_dict()

    ev = _evaluate(kind, ds, bundle, lr_models, x_all, config)
    warnings += ev.warnings

    def frame_of(split: str) -> pd.DataFrame:
        rows = ds.rows(split, bundle.primary)
        return pd.concat(
            [
                ds.snapshots.iloc[rows][[ds.entity_key, "as_of", *ds.targets]].reset_index(drop=True),
                ds.features.iloc[rows].reset_index(drop=True),
            ],
            axis=1,
        )

    test_frame = frame_of("test")
    model_rows = ev.metrics[ev.metrics["method"] == "model"].set_index("target")
    bundle.metadata = {
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "data_until": ds.until.isoformat(),
        "cutoffs": {k: v.isoformat() for k, v in ds.cutoffs.items()},
        "rows": {s: int((ds.snapshots["split"] == s).sum()) for s in ("train", "validation", "test")},
        "algorithms": {t: r.chosen for t, r in reports.items()},
        "calibration": {t: r.calibration for t, r in reports.items()},
        "period_logit_sd": ev.shock_sd,
        "custom_attributes": _used_declarations(data.custom_attributes, columns),
        "split_method": config.training.split.method,
        "snapshot_policy": snapshot_policy(kind, config),
        "test_metrics": model_rows[["roc_auc", "pr_auc", "log_loss", "brier", "ece"]].to_dict(orient="index"),
        "grades": grade_cut.to_dict() if grade_cut is not None else None,
        "stale_days": _stale_days(data, ds, config) if kind == "lead" else None,
        "warnings": warnings,
    }
    for w in warnings:
        logger.warning("%s", w)
    return TrainOutcome(
        kind,
        bundle,
        ev.metrics,
        ev.by_group,
        ev.segments,
        reports,
        test_frame,
        by_age=ev.by_age,
        by_month=ev.by_month,
        leakage=leakage.table,
        warnings=warnings,
        frame_of=frame_of,
    )


def snapshot_policy(kind: str, config: AppConfig) -> str:
    """The snapshot policy in words (an MLflow param beside the split method)."""
    if kind == "lead":
        p = config.training.lead_snapshots
        if p.age_sample_rate == 0:
            return "creation only"
        return (
            f"creation, then every {p.every_days} d of age while open up to {p.max_age_days} d, each age "
            f"kept with probability {p.age_sample_rate:g} whatever the outcome"
        )
    return f"each open-stage entry + every {OPPORTUNITY_EVERY_DAYS} d while open"


def _stale_days(data: CRMData, ds: LabelledSet, config: AppConfig) -> dict:
    """Days to convert per source among the converted leads of the training and validation periods."""
    fitted = ds.snapshots.loc[ds.snapshots["split"].isin(["train", "validation"]), ds.entity_key].unique()
    leads = data.leads[data.leads["lead_id"].isin(fitted) & data.leads["converted_at"].notna()]
    days = (leads["converted_at"] - leads["created_at"]).dt.total_seconds().to_numpy() / 86_400
    return learn_stale_days(days, leads["source"].to_numpy(dtype=object), config.training.stale_quantile)


@dataclass
class _Evaluation:
    metrics: pd.DataFrame
    by_group: pd.DataFrame
    segments: pd.DataFrame | None
    by_age: pd.DataFrame | None
    by_month: pd.DataFrame
    shock_sd: dict[str, float]
    warnings: list[str]


def _evaluate(
    kind: str, ds: LabelledSet, bundle: ModelBundle, lr_models: dict, x_all: np.ndarray, config: AppConfig
) -> _Evaluation:
    """The test period, where the model is used: the headline at the decision point (a lead's creation;
    every deal snapshot), per lead age or deal stage, and per month with drift warnings."""
    tables, by_group, segs, shock_sd, by_age, months, warnings = [], None, None, {}, None, [], []
    for target in ds.targets:
        te = ds.rows("test", target)
        y = ds.snapshots[target].to_numpy()[te].astype(int)
        feats = ds.features.iloc[te]
        p_model = bundle.predict(feats)[target].to_numpy()
        _gate_predictions(p_model, f"{target} on the test period")
        methods = {"model": p_model, "logistic_regression": lr_models[target].predict(x_all[te])}
        if kind == "lead":
            tr = ds.rows("train", target)
            prob, grades = baselines.bant_rule_baseline(
                ds.features["bant_rule_points"].to_numpy()[tr],
                ds.snapshots[target].to_numpy()[tr],
                feats["bant_rule_points"].to_numpy(),
                config.leads.rule_grade,
            )
            methods["bant_rule_grade"] = prob
            age = ds.snapshots["snapshot_day"].to_numpy()[te]
            first = age == 0  # the decision that matters: which new lead to call
            decision = {m: p[first] for m, p in methods.items()}
            tables.append(metrics_table(target, y[first], decision))
            tables.append(
                metrics_table(target, y, methods).assign(method=lambda f: f["method"] + " every age")
            )
            by_age = by_group_table(y, methods, age_bucket(age), "lead_age", [b[2] for b in AGE_BUCKETS])
            by_group = grade_table(y, {"model": bundle.grade(p_model), "bant_rule_grade": grades})
            segs = segments_table(y, methods, feats, ["source", "industry"])
            what = "conversion"
        else:
            methods["stage_weight"] = baselines.stage_weight_baseline(feats)
            methods["historical_stage_rate"] = baselines.stage_rate_baseline(feats, float(y.mean()))
            # period-level error of the model for forecast intervals, per snapshot week of the
            # validation and test periods (the calibrator fixes the overall level, not each week's)
            held = np.concatenate([ds.rows("validation", target), te])
            weeks = week_start(
                ds.snapshots["as_of"].iloc[held].to_numpy(dtype="datetime64[s]").astype(np.int64)
            )
            shock_sd[target] = logit_shock_sd(
                bundle.predict(ds.features.iloc[held])[target].to_numpy(),
                ds.snapshots[target].to_numpy()[held],
                weeks,
            )
            tables.append(metrics_table(target, y, methods))
            if target == bundle.primary:
                by_group = stage_table(y, feats, p_model)
                by_age = by_group_table(y, methods, feats["stage"].to_numpy(dtype=object), "stage")
                segs = segments_table(y, methods, feats, ["pipeline", "size_band"])
            what = f"the {target} rate"
        month = calibration_by_month(y, p_model, ds.snapshots["as_of"].iloc[te], ds.weights(te))
        months.append(month.assign(target=target))
        warnings += drift_warnings(
            month, config.training.drift, what if target == bundle.primary else f"{what} ({target})"
        )
    return _Evaluation(
        pd.concat(tables, ignore_index=True),
        by_group,
        segs,
        by_age,
        pd.concat(months, ignore_index=True),
        shock_sd,
        warnings,
    )
