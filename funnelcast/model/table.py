"""A table of scores from a table of features: the columns bulk scoring writes (probability, grade,
BANT rule grade, staleness, reasons in words for leads; P(won) per horizon, stage weight and rate, health
and reasons for deals). Bulk scoring in pandas, bulk scoring on Spark and the MLflow pyfunc all call
`score_table`, so their numbers and words are the same; the API reads the same model functions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.features.bant import rule_grade
from funnelcast.features.history import Rates
from funnelcast.features.sets import feature_set
from funnelcast.model.bundle import ModelBundle, batch_threads
from funnelcast.model.health import health, overall_rate
from funnelcast.model.phrases import phrasebook
from funnelcast.model.reasons import meanings, reason_texts, reasons
from funnelcast.model.stale import SEGMENT, stale_flags

Describe = Callable[[str, object], str]


def describer_for(bundle: ModelBundle, config: AppConfig) -> Describe:
    """`describe(feature, value)` for a bundle's features (custom attributes included): the reason in
    plain words in the configured locale (configs/reasons.yaml)."""
    declared = list((bundle.metadata or {}).get("custom_attributes", []))
    said = meanings(feature_set(bundle.feature_set, config, declared, include_leaky=True).specs)
    return phrasebook(config, said)


def _values(feats: pd.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    """Each model feature's values as the reasons show them (the API reads the same arrays)."""
    return {c: feats[c].to_numpy() for c in columns if c in feats}


def score_table(
    bundle: ModelBundle | None,
    kind: str,
    config: AppConfig,
    snaps: pd.DataFrame,
    feats: pd.DataFrame,
    *,
    describe: Describe | None = None,
    rates: Rates | None = None,
    model_version: str | None = None,
    structured: bool = False,
) -> pd.DataFrame:
    """Scores of the rows of `feats` (one per row of `snaps`, same order). Without a lead bundle the
    BANT rule grade is the grade. `structured` adds `reasons`: the API's reasons as JSON text."""
    if kind == "lead":
        points = feats["bant_rule_points"].to_numpy()
        out = pd.DataFrame(
            {
                "lead_id": snaps["lead_id"].to_numpy(),
                "lead_age_days": feats["lead_age_days"].round(1).to_numpy(),
                "rule_points": points,
                "rule_grade": rule_grade(points, config.leads.rule_grade),
            }
        )
        if bundle is None:
            out["grade"], out["model_version"] = out["rule_grade"], "bant-rule-grade"
            return out
        describe = describe or describer_for(bundle, config)
        # the lead bundle has one target: probability and reasons from one pass over the trees
        p, contrib = bundle.targets[bundle.primary].predict_and_contributions(
            bundle.matrix(feats), batch_threads(len(feats))
        )
        values = _values(feats, bundle.columns)
        up, down = reason_texts(contrib, values, bundle.columns, describe)
        stale, why = stale_flags(
            feats["lead_age_days"].to_numpy(),
            feats[SEGMENT].to_numpy(dtype=object),
            bundle.metadata.get("stale_days"),
        )
        out.insert(1, "probability", np.round(p, 6))
        out.insert(2, "score", np.round(100 * p, 1))
        out.insert(3, "grade", bundle.grade(p))
        out["stale"], out["stale_reason"] = stale, why
        out["reasons_up"], out["reasons_down"] = up, down
        if structured:
            out["reasons"] = _json(reasons(contrib, values, bundle.columns, describe))
        out["model_version"] = model_version
        return out
    if bundle is None:
        raise ValueError("no win-probability model is loaded; train and promote one first")
    describe = describe or describer_for(bundle, config)
    rates = rates if rates is not None else (Rates.from_dict(bundle.rates) if bundle.rates else None)
    probs, contrib = bundle.predict_and_explain(bundle.matrix(feats), batch_threads(len(feats)))
    score, band = health(
        probs["won"],
        feats["stage_win_rate"].to_numpy(dtype=float),
        overall_rate(rates, probs["won"]),
        config.funnel.health,
    )
    values = _values(feats, bundle.columns)
    up, down = reason_texts(contrib, values, bundle.columns, describe)
    out = pd.DataFrame(
        {
            "opportunity_id": snaps["opportunity_id"].to_numpy(),
            "stage": feats["stage"].to_numpy(),
            **{f"p_{c}": np.round(v, 6) for c, v in probs.items()},
            "stage_weight": feats["stage_weight"].to_numpy(),
            "historical_stage_win_rate": feats["stage_win_rate"].round(6).to_numpy(),
            "health_score": score,
            "health": band,
            "days_in_stage": feats["days_in_stage"].round(1).to_numpy(),
            "close_date_slips": feats["close_date_slips"].to_numpy(),
            "days_overdue": feats["days_overdue"].round(1).to_numpy(),
            "reasons_up": up,
            "reasons_down": down,
        }
    )
    if structured:
        out["reasons"] = _json(reasons(contrib, values, bundle.columns, describe))
    out["model_version"] = model_version
    return out


def _json(said: list[dict]) -> list[str]:
    import json

    return [json.dumps(r, ensure_ascii=False) for r in said]


def table_columns(kind: str, bundle: ModelBundle | None) -> list[str]:
    """The columns `score_table` returns (without `reasons`), the same for every batch."""
    if kind == "lead":
        if bundle is None:
            return ["lead_id", "lead_age_days", "rule_points", "rule_grade", "grade", "model_version"]
        return [
            "lead_id",
            "probability",
            "score",
            "grade",
            "lead_age_days",
            "rule_points",
            "rule_grade",
            "stale",
            "stale_reason",
            "reasons_up",
            "reasons_down",
            "model_version",
        ]
    return [
        "opportunity_id",
        "stage",
        *[f"p_{name}" for name in bundle.targets],
        "stage_weight",
        "historical_stage_win_rate",
        "health_score",
        "health",
        "days_in_stage",
        "close_date_slips",
        "days_overdue",
        "reasons_up",
        "reasons_down",
        "model_version",
    ]
