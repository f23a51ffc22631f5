"""Deal scoring for the API: request -> the deal feature functions -> the win model -> P(won) per
horizon, health, risk flags in words, reasons."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from funnelcast.core.config import AppConfig, HealthConfig
from funnelcast.core.errors import InvalidInput, NotReady
from funnelcast.features.deal import deal_features
from funnelcast.model.bundle import batch_threads
from funnelcast.model.health import health, overall_rate
from funnelcast.model.reasons import reasons
from funnelcast.serving import schemas
from funnelcast.serving.checks import unique_ids
from funnelcast.serving.models import LoadedModel
from funnelcast.serving.scoring.body import DealRequest
from funnelcast.serving.scoring.inputs import deal_inputs
from funnelcast.serving.scoring.leads import created_after, describer, warnings


def check_stages(items, config: AppConfig, path: str = "opportunities") -> None:
    """Every deal's pipeline is configured and every stage it entered is one of that pipeline's."""
    details = []
    for i, item in enumerate(items):
        key = item.opportunity.pipeline
        if key not in config.funnel.pipeline_keys:
            details.append(
                {
                    "field": f"{path}.{i}.opportunity.pipeline",
                    "message": f"unknown pipeline {key!r}; configured: {config.funnel.pipeline_keys}",
                }
            )
            continue
        stages = config.funnel.pipeline(key).stage_keys
        for j, entry in enumerate(item.stage_history):
            if entry.stage not in stages:
                details.append(
                    {
                        "field": f"{path}.{i}.stage_history.{j}.stage",
                        "message": f"stage {entry.stage!r} is not in pipeline {key!r} (stages: {stages})",
                    }
                )
    if details:
        raise InvalidInput(f"{len(details)} invalid stage(s) or pipeline(s)", details)


def risk_flags(f: Mapping[str, np.ndarray], p90: np.ndarray, rules: HealthConfig) -> list[list[dict]]:
    """Reasons to look at each deal now, in words (thresholds from funnel.yaml `health`)."""
    out = []
    for i in range(len(p90)):
        flags: list[dict] = []

        def add(code: str, message: str, flags: list[dict] = flags) -> None:
            flags.append({"code": code, "message": message})

        days, stage = f["days_in_stage"][i], f["stage"][i]
        if np.isfinite(p90[i]) and days > p90[i]:
            add(
                "stalled",
                f"{days:.0f} days in {stage}, beyond the learned stall threshold of {p90[i]:.0f} days",
            )
        if np.isfinite(f["sla_ratio"][i]) and f["sla_ratio"][i] > 1:
            add("over_sla", f"{days:.0f} days in {stage}, past its SLA")
        idle = f["days_since_last_activity"][i]
        if (
            np.isnan(idle) and f["deal_age_days"][i] > rules.no_activity_days
        ) or idle > rules.no_activity_days:
            add(
                "no_recent_activity",
                "no activity yet" if np.isnan(idle) else f"no activity for {idle:.0f} days",
            )
        if f["close_date_slips"][i] >= rules.close_date_pushes:
            add(
                "close_date_pushed",
                f"expected close date pushed {int(f['close_date_slips'][i])} times "
                f"({f['close_slip_days'][i]:.0f} days in all)",
            )
        if f["days_overdue"][i] > 0:
            add("overdue", f"{f['days_overdue'][i]:.0f} days past the expected close date")
        if f["skipped_stages"][i] > 0:
            add("skipped_stages", f"skipped {int(f['skipped_stages'][i])} stage(s)")
        if f["jumped_from_first_stage"][i] > 0:
            add("first_stage_jump", "jumped from the first stage over the next one")
        if f["regressions"][i] > 0:
            add("regression", f"moved back {int(f['regressions'][i])} time(s)")
        contacts = f["engaged_contacts"][i]
        if contacts <= rules.single_contact_max:
            add(
                "single_contact",
                "no contact engaged" if contacts == 0 else f"only {int(contacts)} contact engaged",
            )
        if f["decision_maker_engaged"][i] == 0:
            add("no_decision_maker", "no decision maker engaged")
        out.append(flags)
    return out


def _none(value) -> float | None:
    return None if value is None or value != value else float(value)


def score_opportunities(
    request: DealRequest,
    model: LoadedModel | None,
    config: AppConfig,
    as_of: pd.Timestamp,
    not_loaded: str = "loading",
) -> schemas.OpportunityScoreResponse:
    """P(won) and P(won within 30/60/90 days), health, risk flags and reasons of every deal, in order."""
    if model is None:
        raise NotReady("no win-probability model is loaded yet", [{"field": "model", "message": not_loaded}])
    items = request.opportunities
    unique_ids([item.opportunity.opportunity_id for item in items], "opportunities")
    check_stages(items, config)
    built = deal_inputs(items, int(as_of.timestamp()), model.declarations)
    created_after(
        built.inputs.deals["created_s"], int(as_of.timestamp()), "opportunities.{}.opportunity.created_at"
    )
    rates = model.rates
    f = deal_features(built.inputs, config.funnel, config.leads, rates)
    bundle = model.bundle
    x = bundle.matrix(f)
    probs, contrib = bundle.predict_and_explain(x, batch_threads(len(x)))
    if not all(np.all(np.isfinite(v)) for v in probs.values()):
        raise NotReady("the win model produced an invalid probability; it has been logged")
    said = reasons(contrib, f, bundle.columns, describer(config, model))
    ref = rates.reference_position(built.inputs.as_of_s)
    p90 = rates.value("stage_dwell", "dwell_p90_days", ref, f["pipeline"], f["stage"])
    score, band = health(
        probs["won"], f["stage_win_rate"], overall_rate(rates, probs["won"]), config.funnel.health
    )
    flags = risk_flags(f, p90, config.funnel.health)
    rates_known = config.leads.currency_rates
    currency = [
        [
            f"currency {c!r} has no rate in leads.yaml (known: {', '.join(sorted(rates_known))}); the "
            "amount was not counted"
        ]
        if c is not None and c.upper() not in rates_known
        else []
        for c in built.inputs.deals["currency"]
    ]
    notes = warnings(model, f, built.future, currency)
    p = {name: np.round(values, 6).tolist() for name, values in probs.items()}
    stage_rate = np.round(f["stage_win_rate"], 6)
    results = [
        schemas.OpportunityScore(
            opportunity_id=item.opportunity.opportunity_id,
            stage=f["stage"][i],
            p_won=p["won"][i],
            p_won_30d=p["won_30d"][i],
            p_won_60d=p["won_60d"][i],
            p_won_90d=p["won_90d"][i],
            stage_weight=_none(f["stage_weight"][i]),
            historical_stage_win_rate=_none(stage_rate[i]),
            health_score=float(score[i]),
            health=str(band[i]),
            risk_flags=flags[i],
            reasons=said[i],
            warnings=notes[i],
        )
        for i, item in enumerate(items)
    ]
    model_ref = schemas.ModelRef(name=model.name, version=model.version, feature_set=bundle.feature_set)
    # built from values computed above, of the declared types: not validated again (the contract test
    # validates real responses against the schema)
    return schemas.OpportunityScoreResponse.model_construct(
        as_of=as_of.to_pydatetime(), model=model_ref, results=results
    )
