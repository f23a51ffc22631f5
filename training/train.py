"""Train, evaluate, gate and register a lead-grading or win-probability model."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from funnelcast.analytics.forecast import logit_shock_sd
from funnelcast.core.config import AppConfig
from funnelcast.core.errors import EXIT_TRAINING, FunnelcastError
from funnelcast.features.frames import declarations, snapshot_rates
from funnelcast.features.history import week_start
from funnelcast.features.io import CRMData
from funnelcast.features.leakage import leakage_alarm
from funnelcast.features.sets import feature_set
from funnelcast.model.bundle import ModelBundle
from funnelcast.training import baselines, plots
from funnelcast.training.dataset import lead_dataset, opportunity_dataset
from funnelcast.training.evaluate import grade_table, metrics_table, segments_table, stage_table
from funnelcast.training.fit import FitReport, fit_target, grade_thresholds

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
    plots: dict[str, Path] = field(default_factory=dict)
    run_id: str | None = None
    version: str | None = None


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


def _gate_leakage(features: pd.DataFrame, y: np.ndarray, config: AppConfig) -> list[str]:
    suspects = [
        s
        for s in leakage_alarm(features, y, config.training.leakage_threshold)
        if s.feature not in config.training.allow_leaky
    ]
    if suspects:
        raise TrainingRefused(
            "leakage alarm, registration stopped: "
            + "; ".join(map(str, suspects))
            + ". A feature this predictive is almost always filled in after the outcome. "
            "Remove it, or list it under allow_leaky in training.yaml if you are sure."
        )
    return []


def _gate_predictions(p: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        raise TrainingRefused(
            f"{what}: {int(bad.sum())} predictions are NaN or outside [0, 1]; not registering"
        )


def train_model(
    kind: str, data: CRMData, config: AppConfig, *, progress: Progress | None = None
) -> TrainOutcome:
    """Build snapshots and features, fit, calibrate, evaluate against baselines; no MLflow here."""
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
            target, x_all[tr], y_tr, x_all[va], y_va, cat_idx, config.training
        )
        bundle.targets[target] = model
        lr_models[target] = lr
    step("checking for leakage")
    primary_train = ds.rows("train", bundle.primary)
    _gate_leakage(
        ds.features[columns].iloc[primary_train].reset_index(drop=True),
        ds.snapshots[bundle.primary].to_numpy()[primary_train],
        config,
    )

    step("evaluating on the test period against baselines")
    if kind == "lead":
        va = ds.rows("validation", "converted")
        p_va = bundle.targets["converted"].predict(x_all[va])
        y_va = ds.snapshots["converted"].to_numpy()[va]
        g = config.leads.grades
        bundle.thresholds = (
            grade_thresholds(p_va, y_va, g.hot_lift, g.cold_lift)
            if g.method == "targets"
            else {"hot": g.hot_cutoff, "warm": g.warm_cutoff, "base_rate": float(y_va.mean())}
        )
    else:
        until_s = int(ds.until.value // 10**9)
        ref = int(week_start(np.array([until_s]))[0])
        rates = snapshot_rates(data, pd.DataFrame({"as_of": [pd.Timestamp(ref, unit="s", tz="UTC")]}), config)
        bundle.rates = rates.frozen_at(ref).to_dict()

    tables, by_group, segs, shock_sd = [], None, None, {}
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
            by_group = grade_table(y, {"model": bundle.grade(p_model), "bant_rule_grade": grades})
            segs = segments_table(y, methods, feats, ["source", "industry"])
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
            if target == bundle.primary:
                by_group = stage_table(y, feats, p_model)
                segs = segments_table(y, methods, feats, ["pipeline", "size_band"])
        tables.append(metrics_table(target, y, methods))
    metrics = pd.concat(tables, ignore_index=True)
    te = ds.rows("test", bundle.primary)
    test_frame = pd.concat(
        [
            ds.snapshots.iloc[te][[ds.entity_key, "as_of", *ds.targets]].reset_index(drop=True),
            ds.features.iloc[te].reset_index(drop=True),
        ],
        axis=1,
    )
    bundle.metadata = {
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "data_until": ds.until.isoformat(),
        "cutoffs": {k: v.isoformat() for k, v in ds.cutoffs.items()},
        "rows": {s: int((ds.snapshots["split"] == s).sum()) for s in ("train", "validation", "test")},
        "algorithms": {t: r.chosen for t, r in reports.items()},
        "calibration": {t: r.calibration for t, r in reports.items()},
        "period_logit_sd": shock_sd,
        "custom_attributes": _used_declarations(data.custom_attributes, columns),
        "split_method": config.training.split.method,
        "test_metrics": metrics[metrics["method"] == "model"]
        .set_index("target")[["roc_auc", "pr_auc", "log_loss", "brier", "ece"]]
        .to_dict(orient="index"),
    }
    return TrainOutcome(kind, bundle, metrics, by_group, segs, reports, test_frame)


def write_plots(outcome: TrainOutcome, out_dir: Path) -> dict[str, Path]:
    """Calibration, gains, importance and rate-by-grade (leads) / by-stage plots for the primary target."""
    out_dir.mkdir(parents=True, exist_ok=True)
    b = outcome.bundle
    frame = outcome.test_frame
    y = frame[b.primary].to_numpy().astype(int)
    feats = frame[b.columns]
    x = b.matrix(feats)
    p = b.predict_matrix(x)[b.primary]
    methods = {"model": p}
    if b.kind == "opportunity":
        methods["stage weight"] = baselines.stage_weight_baseline(feats)
        methods["historical stage rate"] = baselines.stage_rate_baseline(feats, float(y.mean()))
    title = "lead conversion" if b.kind == "lead" else "win probability"
    contrib = np.abs(b.targets[b.primary].contributions(x)).mean(axis=0)
    paths = {
        "calibration": plots.calibration_plot(
            y, methods, out_dir / "calibration.png", f"Calibration: {title}"
        ),
        "gains": plots.gains_plot(y, methods, out_dir / "cumulative_gains.png", f"Cumulative gains: {title}"),
        "importance": plots.importance_plot(
            b.columns, contrib, out_dir / "feature_importance.png", f"Feature importance: {title}"
        ),
    }
    if b.kind == "lead":
        paths["by_grade"] = plots.rate_by_grade_plot(
            outcome.by_group, out_dir / "conversion_by_grade.png", "Conversion by grade (test period)"
        )
    return paths


def example_rows(data: CRMData, kind: str, ids: list[str], as_of: pd.Timestamp) -> pd.DataFrame:
    """Raw pyfunc input rows for some entities as of a time: the record plus its history as JSON text."""
    from funnelcast.model.pyfunc import input_columns

    key, entity = ("lead_id", data.leads) if kind == "lead" else ("opportunity_id", data.opportunities)
    rows = entity[entity[key].isin(ids)].copy()
    acts = data.activities[data.activities["occurred_at"] <= as_of]

    def as_json(frame: pd.DataFrame) -> str:
        return frame.to_json(orient="records", date_format="iso", force_ascii=False)

    out = []
    for rec in rows.itertuples(index=False):  # a handful of example rows, not a data path
        row = {c: getattr(rec, c) for c in input_columns(kind) if hasattr(rec, c)}
        own = acts[
            (acts["entity_id"] == getattr(rec, key))
            | ((acts["entity_type"] == "account") & (acts["entity_id"] == rec.account_id))
        ]
        row["activities"] = as_json(own)
        row["account"] = as_json(data.accounts[data.accounts["account_id"] == rec.account_id])
        if kind == "opportunity":
            row["outcome"] = "open"
            for name in ("stage_history", "close_date_history", "amount_history"):
                frame = getattr(data, name)
                time_col = "entered_at" if name == "stage_history" else "changed_at"
                row[name] = as_json(
                    frame[(frame["opportunity_id"] == rec.opportunity_id) & (frame[time_col] <= as_of)]
                )
        row["as_of"] = as_of.isoformat()
        out.append(row)
    frame = pd.DataFrame(out, columns=input_columns(kind))
    for col in frame.columns:  # text in, as a CRM export or JSON body carries it
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = frame[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    # text or None per cell (a handful of rows): JSON-safe, and what the signature declares
    values = frame.astype(object).to_numpy()
    text = np.where(pd.isna(values), None, values.astype(str))
    return pd.DataFrame(text, columns=frame.columns, dtype=object)


def register(
    outcome: TrainOutcome,
    data: CRMData,
    files: dict[str, Path],
    config: AppConfig,
    *,
    progress: Progress | None = None,
) -> TrainOutcome:
    """Log the run to MLflow (params, lineage, metrics, plots, pyfunc model), register the model and
    point the `challenger` alias at it. Nothing is registered until every gate has passed."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from funnelcast.model.pyfunc import input_columns, score_rows
    from funnelcast.training.tracking import REGISTERED, client, data_fingerprint, git_commit, use_store

    step = progress or (lambda _m: None)
    b = outcome.bundle
    name = REGISTERED[b.kind]
    use_store(config.training.experiment)
    step("logging the run to MLflow")
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=f"{b.kind}-{b.feature_set}") as run:
        tmp = Path(tmp)
        key = "lead_id" if b.kind == "lead" else "opportunity_id"
        params = {
            "kind": b.kind,
            "feature_set": b.feature_set,
            "seed": config.training.seed,
            "num_threads": config.training.num_threads,
            **{f"lightgbm.{k}": v for k, v in config.training.lightgbm.model_dump().items()},
            "logistic_regression.C": config.training.logistic_regression.C,
            **{f"chosen.{t}": r.chosen for t, r in outcome.reports.items()},
            **{f"calibration.{t}": r.calibration for t, r in outcome.reports.items()},
            **{f"cutoff.{k}": v for k, v in b.metadata["cutoffs"].items()},
            **{f"rows.{k}": v for k, v in b.metadata["rows"].items()},
            **{f"threshold.{k}": round(v, 6) for k, v in b.thresholds.items()},
        }
        if b.kind == "lead":
            params["horizon_days"] = config.leads.horizon_days
        mlflow.log_params(params)
        fingerprint = data_fingerprint(files)
        mlflow.set_tags(
            {
                "feature_set": b.feature_set,
                "git_commit": git_commit(),
                **fingerprint,
                "data_until": b.metadata["data_until"],
                **{f"data.rows.{k}": len(v) for k, v in data.frames().items()},
            }
        )
        for rec in outcome.metrics.itertuples(index=False):
            for metric in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift"):
                value = getattr(rec, metric)
                if np.isfinite(value):
                    mlflow.log_metric(f"test.{rec.target}.{rec.method}.{metric}", float(value))
        for t, r in outcome.reports.items():
            for algo, auc in r.validation_auc.items():
                mlflow.log_metric(f"validation.{t}.{algo}.roc_auc", auc)
        tables = tmp / "tables"
        tables.mkdir()
        outcome.metrics.to_csv(tables / "metrics.csv", index=False)
        outcome.by_group.to_csv(
            tables / ("rate_by_grade.csv" if b.kind == "lead" else "rate_by_stage.csv"), index=False
        )
        if outcome.segments is not None and len(outcome.segments):
            outcome.segments.to_csv(tables / "segments.csv", index=False)
        mlflow.log_artifacts(str(tables), "tables")
        outcome.plots = write_plots(outcome, tmp / "plots")
        mlflow.log_artifacts(str(tmp / "plots"), "plots")
        evaluation = tmp / "evaluation"
        evaluation.mkdir()
        outcome.test_frame.to_parquet(evaluation / "test.parquet", index=False)
        mlflow.log_artifacts(str(evaluation), "evaluation")

        step("logging and registering the pyfunc model")
        joblib.dump(b, tmp / "bundle.joblib")
        configs = tmp / "configs"
        shutil.copytree(config.source_dir, configs, ignore=shutil.ignore_patterns("mappings"))
        test_ids = outcome.test_frame[key].head(2).tolist()
        as_of = pd.Timestamp(b.metadata["data_until"])
        example = example_rows(data, b.kind, test_ids, as_of)
        expected = score_rows(b, example, config)
        columns = input_columns(b.kind)
        signature = ModelSignature(
            inputs=Schema([ColSpec("string", c, required=c in (key, "created_at")) for c in columns]),
            outputs=Schema(
                [ColSpec("string" if expected[c].dtype == object else "double", c) for c in expected]
            ),
        )
        code = _code_tree(tmp / "code")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code / "model" / "pyfunc_entry.py"),  # models from code
            artifacts={"bundle": str(tmp / "bundle.joblib"), "configs": str(configs)},
            code_paths=[str(code)],
            signature=signature,
            input_example=example,
            registered_model_name=name,
            pip_requirements=_requirements(),
        )
        version = str(info.registered_model_version)
        mlflow.log_dict(
            {
                "golden_input": json.loads(example.to_json(orient="records", force_ascii=False)),
                "golden_output": json.loads(expected.to_json(orient="records")),
            },
            "golden.json",
        )
        mc = client()
        mc.set_model_version_tag(name, version, "feature_set", b.feature_set)
        mc.set_model_version_tag(name, version, "run_id", run.info.run_id)
        mc.set_registered_model_alias(name, "challenger", version)
        outcome.run_id, outcome.version = run.info.run_id, version
    logger.info("registered %s version %s as challenger (run %s)", name, version, outcome.run_id)
    return outcome


SCORING_PACKAGES = ("core", "features", "model")  # what the pyfunc imports of funnelcast


def _code_tree(out: Path) -> Path:
    """The parts of the `funnelcast` namespace the pyfunc needs, copied as one package (its folders
    live apart in a checkout: funnelcast/core, features/ ...)."""
    import importlib.util

    root = out / "funnelcast"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text(
        Path(importlib.util.find_spec("funnelcast").origin).read_text(encoding="utf-8"), encoding="utf-8"
    )
    for part in SCORING_PACKAGES:
        source = importlib.util.find_spec(f"funnelcast.{part}").submodule_search_locations[0]
        shutil.copytree(source, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"{p}=={version(p)}"
        for p in (
            "mlflow",
            "lightgbm",
            "scikit-learn",
            "pandas",
            "numpy",
            "pyarrow",
            "pydantic",
            "pyyaml",
            "scipy",
            "joblib",
        )
    ]
