"""Registration in MLflow: the run (parameters, lineage, metrics, tables, plots, the test set), the
pyfunc model logged as code with its signature and input example, and the `challenger` alias."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.features.io import CRMData
from funnelcast.training import baselines, plots
from funnelcast.training.train import Progress, TrainOutcome

logger = logging.getLogger(__name__)


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


def _flat_columns(kind: str) -> list[str]:
    from funnelcast.features.schema import ENTITIES

    entity = ENTITIES["leads" if kind == "lead" else "opportunities"]
    own = [c.name for c in entity.columns if not c.label or kind == "opportunity" and c.name == "outcome"]
    histories = ("stage_history", "close_date_history", "amount_history") if kind == "opportunity" else ()
    return [*own, "activities", "account", *histories, "as_of"]


def example_rows(data: CRMData, kind: str, ids: list[str], as_of: pd.Timestamp) -> pd.DataFrame:
    """Flat rows for some entities as of a time: the record's columns plus its activities, account and
    histories as JSON text (tests and benchmarks build request bodies from them; the pyfunc takes
    `item_rows`)."""

    key, entity = ("lead_id", data.leads) if kind == "lead" else ("opportunity_id", data.opportunities)
    rows = entity[entity[key].isin(ids)].copy()
    acts = data.activities[data.activities["occurred_at"] <= as_of]

    def as_json(frame: pd.DataFrame) -> str:
        return frame.to_json(orient="records", date_format="iso", force_ascii=False)

    out = []
    for rec in rows.itertuples(index=False):  # a handful of example rows, not a data path
        row = {c: getattr(rec, c) for c in _flat_columns(kind) if hasattr(rec, c)}
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
    frame = pd.DataFrame(out, columns=_flat_columns(kind))
    for col in frame.columns:  # text in, as a CRM export or JSON body carries it
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = frame[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    # text or None per cell (a handful of rows): JSON-safe, and what the signature declares
    values = frame.astype(object).to_numpy()
    text = np.where(pd.isna(values), None, values.astype(str))
    return pd.DataFrame(text, columns=frame.columns, dtype=object)


PERSONAL = ("contact_name", "contact_email", "contact_phone")  # never in an artifact


def item_rows(data: CRMData, kind: str, ids: list[str], as_of: pd.Timestamp) -> pd.DataFrame:
    """Pyfunc input rows for some entities as of a time, shaped as the API's items (the record, its
    activities, account and histories as objects), typed as a CRM sends them (numbers as numbers,
    times as ISO 8601 text), without personal data (contact names, emails, phones are left out)."""
    from funnelcast.model.pyfunc import input_columns

    key, entity = ("lead_id", data.leads) if kind == "lead" else ("opportunity_id", data.opportunities)
    rows = entity[entity[key].isin(ids)]
    acts = data.activities[data.activities["occurred_at"] <= as_of]

    def records(frame: pd.DataFrame, drop=()) -> list[dict]:
        frame = frame.drop(columns=[c for c in (*PERSONAL, *drop) if c in frame.columns])
        out = json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))
        return [{k: v for k, v in r.items() if v is not None} for r in out]

    out = []
    for rec in rows.itertuples(index=False):  # a handful of example rows, not a data path
        main = records(
            rows[rows[key] == getattr(rec, key)],
            drop=("converted_at", "disqualified_at", "disqualify_reason")
            if kind == "lead"
            else ("outcome", "closed_at", "loss_reason"),
        )[0]
        account = data.accounts[data.accounts["account_id"] == rec.account_id]
        own = acts[(acts["entity_type"] == kind) & (acts["entity_id"] == getattr(rec, key))]
        visits = acts[(acts["entity_type"] == "account") & (acts["entity_id"] == rec.account_id)]
        row = {
            kind: main,
            "activities": records(own, drop=("entity_type", "entity_id")),
            "account": (records(account) or [None])[0],
            "account_activities": records(visits, drop=("entity_type", "entity_id")),
        }
        if kind == "opportunity":
            for name in ("stage_history", "close_date_history", "amount_history"):
                frame = getattr(data, name)
                time_col = "entered_at" if name == "stage_history" else "changed_at"
                mine = frame[(frame["opportunity_id"] == rec.opportunity_id) & (frame[time_col] <= as_of)]
                row[name] = records(mine, drop=("opportunity_id",))
        row["as_of"] = as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(row)
    return pd.DataFrame(out, columns=input_columns(kind))


ENTITY_OF = {  # pyfunc input column -> the entity of its records, and columns the item implies
    "lead": ("leads", ()),
    "opportunity": ("opportunities", ()),
    "account": ("accounts", ()),
    "activities": ("activities", ("entity_type", "entity_id")),
    "account_activities": ("activities", ("entity_type", "entity_id")),
    "stage_history": ("stage_history", ("opportunity_id",)),
    "close_date_history": ("close_date_history", ("opportunity_id",)),
    "amount_history": ("amount_history", ("opportunity_id",)),
}


def _complete(inferred, entity: tuple[str, tuple[str, ...]], keep: tuple[str, ...]):
    """An object type with every field of its entity (what the example shows, typed as inferred; the
    rest typed by the data model: numbers as double, everything else as text), optional but `keep`."""
    from mlflow.types.schema import Object, Property

    from funnelcast.features.schema import ENTITIES

    name, implied = entity
    seen = {p.name: p for p in inferred.properties} if inferred is not None else {}
    props = []
    for column in ENTITIES[name].columns:
        if column.label or column.name in implied:
            continue
        found = seen.get(column.name)
        dtype = "double" if column.kind == "number" else "string"
        if found is not None and not isinstance(found.dtype, Object):
            dtype = found.dtype
            if column.kind == "number":
                dtype = "double"  # 12 and 12.0 are both a count: never refuse an integer
        props.append(Property(column.name, dtype, required=column.name in keep))
    return Object(props)


def _signature(example: pd.DataFrame, expected: pd.DataFrame, key: str):
    """Inferred from the typed example and its scores. Only the main record's id and creation time are
    required: every other field, list and column may be left out."""
    from mlflow.models import infer_signature
    from mlflow.types.schema import Array, Object, Schema

    signature = infer_signature(example, expected)

    inputs = []
    for col in signature.inputs.inputs:
        entity = ENTITY_OF.get(col.name)
        if entity is not None:  # an object, or a list of them (whatever the few example rows showed)
            base = col.type.dtype if isinstance(col.type, Array) else col.type
            keep = (key, "created_at") if col.name in ("lead", "opportunity") else ()
            base = _complete(base if isinstance(base, Object) else None, entity, keep)
            col._type = base if col.name in ("lead", "opportunity", "account") else Array(base)
        col._required = col.name in ("lead", "opportunity")
        inputs.append(col)
    signature.inputs = Schema(inputs)
    return signature


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

    from funnelcast.model.pyfunc import score_rows
    from funnelcast.training.lineage import (
        MODEL_DESCRIPTIONS,
        describe_run,
        describe_version,
        git_tags,
        log_candidates,
        log_datasets,
    )
    from funnelcast.training.tracking import (
        REGISTERED,
        client,
        data_fingerprint,
        git_commit,
        owner_tags,
        use_store,
    )

    step = progress or (lambda _m: None)
    b = outcome.bundle
    name = REGISTERED[b.kind]
    use_store(config.training.experiment)
    step("logging the run to MLflow")
    with (
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(run_name=f"{b.kind}-{b.feature_set}", tags=owner_tags()) as run,
    ):
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
        params["split_method"] = b.metadata.get("split_method")
        params["snapshot_policy"] = b.metadata.get("snapshot_policy")
        if b.kind == "lead":
            params["horizon_days"] = config.leads.horizon_days
            for grade, rate in ((b.metadata.get("grades") or {}).get("expected") or {}).items():
                params[f"grade.{grade}.expected_conversion"] = round(rate, 4) if np.isfinite(rate) else None
        mlflow.log_params(params)
        fingerprint = data_fingerprint(files)
        commit = git_commit()
        mlflow.set_tags(
            {
                "feature_set": b.feature_set,
                "git_commit": commit,
                **git_tags(commit),
                "mlflow.note.content": describe_run(outcome, config),
                **fingerprint,
                "data_until": b.metadata["data_until"],
                **{f"data.rows.{k}": len(v) for k, v in data.frames().items()},
            }
        )
        for rec in outcome.metrics.itertuples(index=False):
            for metric in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift"):
                value = getattr(rec, metric)
                if np.isfinite(value):
                    method = rec.method.replace(" ", "_")
                    mlflow.log_metric(f"test.{rec.target}.{method}.{metric}", float(value))
        if outcome.by_age is not None:
            group = "lead_age" if b.kind == "lead" else "stage"
            for rec in outcome.by_age[outcome.by_age["method"] == "model"].itertuples(index=False):
                where = getattr(rec, group).replace(" ", "_").replace(">", "over_")
                for metric in ("roc_auc", "ece", "log_loss"):
                    value = getattr(rec, metric)
                    if np.isfinite(value) and b.kind == "lead":  # stage keys may not be valid metric names
                        mlflow.log_metric(f"test.by_age.{where}.{metric}", float(value))
        for t, r in outcome.reports.items():
            for algo, auc in r.validation_auc.items():
                mlflow.log_metric(f"validation.{t}.{algo}.roc_auc", auc)
        log_datasets(outcome, files, fingerprint)
        log_candidates(outcome, config)
        tables = tmp / "tables"
        tables.mkdir()
        outcome.metrics.to_csv(tables / "metrics.csv", index=False)
        outcome.by_group.to_csv(
            tables / ("rate_by_grade.csv" if b.kind == "lead" else "rate_by_stage.csv"), index=False
        )
        if outcome.segments is not None and len(outcome.segments):
            outcome.segments.to_csv(tables / "segments.csv", index=False)
        if outcome.by_age is not None:
            outcome.by_age.to_csv(
                tables / ("by_lead_age.csv" if b.kind == "lead" else "by_stage.csv"), index=False
            )
        if outcome.by_month is not None:
            outcome.by_month.to_csv(tables / "calibration_by_month.csv", index=False)
        if outcome.leakage is not None:
            outcome.leakage.to_csv(tables / "leakage.csv", index=False)
        (tables / "warnings.txt").write_text("\n".join(outcome.warnings) + "\n", encoding="utf-8")
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
        test_ids = outcome.test_frame[key].drop_duplicates().head(3).tolist()
        as_of = pd.Timestamp(b.metadata["data_until"])
        example = item_rows(data, b.kind, test_ids, as_of)
        expected = score_rows(b, example, config)
        signature = _signature(example, expected, key)
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
        mc.update_registered_model(name, description=MODEL_DESCRIPTIONS[b.kind])
        mc.update_model_version(name, version, description=describe_version(outcome, config))
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
