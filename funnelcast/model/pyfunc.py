"""MLflow pyfunc wrapper: scores canonical raw records, so `mlflow models serve` and
`mlflow.pyfunc.spark_udf` can use a Funnelcast model without the Funnelcast server.

Input: one row per lead (lead columns) or opportunity (opportunity columns), plus JSON-text columns
`activities`, `account` and, for opportunities, `stage_history`, `close_date_history`,
`amount_history`, and an optional `as_of` (ISO 8601; default: now). Output: calibrated
probabilities, score 0-100 and grade (leads) or win probabilities per horizon (opportunities).
"""

from __future__ import annotations

import json

import joblib
import mlflow.pyfunc
import numpy as np
import pandas as pd

from funnelcast.features.schema import ENTITIES

JSON_COLUMNS = {
    "lead": ("activities", "account"),
    "opportunity": ("activities", "account", "stage_history", "close_date_history", "amount_history"),
}


def input_columns(kind: str) -> list[str]:
    entity = ENTITIES["leads" if kind == "lead" else "opportunities"]
    own = [c.name for c in entity.columns if not c.label or kind == "opportunity" and c.name == "outcome"]
    return [*own, *JSON_COLUMNS[kind], "as_of"]


def _json_list(value) -> list:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return []
    parsed = json.loads(value) if isinstance(value, str) else value
    return parsed if isinstance(parsed, list) else [parsed]


def records_from_rows(rows: pd.DataFrame, kind: str) -> dict[str, list[dict]]:
    """Canonical records by entity from pyfunc input rows."""
    entity = "leads" if kind == "lead" else "opportunities"
    own = [c for c in ENTITIES[entity].column_names if c in rows.columns]
    main = rows[own].astype(object).where(rows[own].notna(), None).to_dict(orient="records")
    if kind == "opportunity":
        for rec in main:  # a deal being scored is open, whatever the caller sent
            rec["outcome"], rec["closed_at"], rec["loss_reason"] = "open", None, None
    out: dict[str, list[dict]] = {entity: main}
    for col in JSON_COLUMNS[kind]:
        target = "accounts" if col == "account" else col
        items = []
        for value in rows[col] if col in rows.columns else []:
            items += _json_list(value)
        # rows of one batch may share an account, and so its records: keep each record once
        id_key = {"accounts": "account_id", "activities": "activity_id"}.get(target)
        if id_key:
            items = list({a.get(id_key): a for a in items}.values())
        out[target] = items
    return out


def score_rows(bundle, rows: pd.DataFrame, config) -> pd.DataFrame:
    """Score pyfunc input rows with a ModelBundle (shared by the pyfunc and tests)."""
    from funnelcast.features.frames import build_lead_features, build_opportunity_features
    from funnelcast.features.history import Rates
    from funnelcast.features.records import frames_from_records

    data = frames_from_records(records_from_rows(rows, bundle.kind), source="input")
    now = pd.Timestamp.now(tz="UTC").floor("s")
    as_of = (
        pd.to_datetime(rows["as_of"], utc=True)
        if "as_of" in rows.columns
        else pd.Series(pd.NaT, index=rows.index)
    )
    as_of = as_of.fillna(now).reset_index(drop=True)
    key = "lead_id" if bundle.kind == "lead" else "opportunity_id"
    snaps = pd.DataFrame({key: rows[key].to_numpy(), "as_of": as_of})
    if bundle.kind == "lead":
        feats = build_lead_features(data, snaps, config)
        p = bundle.predict(feats)[bundle.primary].to_numpy()
        from funnelcast.features.bant import rule_grade

        return pd.DataFrame(
            {
                "lead_id": snaps["lead_id"],
                "probability": p,
                "score": np.round(100 * p, 1),
                "grade": bundle.grade(p),
                "rule_grade": rule_grade(feats["bant_rule_points"].to_numpy(), config.leads.rule_grade),
            }
        )
    feats = build_opportunity_features(data, snaps, config, rates=Rates.from_dict(bundle.rates))
    probs = bundle.predict(feats)
    return pd.concat([snaps[["opportunity_id"]], probs.add_prefix("p_").reset_index(drop=True)], axis=1)


class FunnelcastPyfunc(mlflow.pyfunc.PythonModel):
    """Loads the bundle and the configuration shipped beside it; scores raw records."""

    def load_context(self, context) -> None:
        from funnelcast.core.config import load_config

        self.bundle = joblib.load(context.artifacts["bundle"])
        self.config = load_config(context.artifacts["configs"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return score_rows(self.bundle, model_input.reset_index(drop=True), self.config)
