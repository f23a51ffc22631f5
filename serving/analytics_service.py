"""Funnel and forecast for the API: request records -> canonical frames -> the same analytics code
as `funnelcast funnel` / `funnelcast forecast` (and, for forecasts, the loaded win model)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.forecast import forecast
from analytics.funnel import funnel_report
from analytics.pipeline_inputs import deal_inputs, period_logit_sd
from features.known import known_at
from features.records import frames_from_validated
from serving import analytics_schemas as s
from serving.errors import InvalidInput, NotReady
from serving.registry import ModelRegistry
from serving.schemas import ModelRef
from serving.service import _accounts, _check_stages, _duplicates, open_deal_records, record

DAY = pd.Timedelta(days=1)


def funnel(request: s.FunnelRequest, registry: ModelRegistry, as_of: pd.Timestamp) -> s.FunnelResponse:
    config = registry.config
    _duplicates([d.opportunity.opportunity_id for d in request.opportunities], "opportunities")
    _duplicates([lead.lead_id for lead in request.leads], "leads")
    _check_stages(request, config)
    missing = [{"field": f"opportunities.{i}.closed_at", "message": f"a {d.outcome} deal needs closed_at"}
               for i, d in enumerate(request.opportunities) if d.outcome != "open" and d.closed_at is None]
    if missing:
        raise InvalidInput(f"{len(missing)} closed deal(s) without closed_at", missing)
    records: dict[str, list[dict]] = {"opportunities": [], "stage_history": [], "accounts": _accounts(
        request.opportunities), "leads": [lead.model_dump() for lead in request.leads]}
    for d in request.opportunities:
        oid = d.opportunity.opportunity_id
        records["opportunities"].append({**record(d.opportunity), "outcome": d.outcome,
                                         "closed_at": d.closed_at, "loss_reason": d.loss_reason})
        records["stage_history"] += [{**row.model_dump(), "opportunity_id": oid} for row in d.stage_history]
    data = known_at(frames_from_validated(records), as_of)
    report = funnel_report(data, config, as_of, by=request.by)
    return s.FunnelResponse(**report.to_dict())


def forecast_deals(request: s.ForecastRequest, registry: ModelRegistry, as_of: pd.Timestamp) -> s.ForecastResponse:
    config = registry.config
    model = registry.get("opportunity")
    if model is None:
        raise NotReady("no win-probability model is loaded yet", [{"field": "model", "message":
                       registry.last_errors.get("opportunity", "loading")}])
    period_end = pd.Timestamp(request.period_end)
    period_end = (period_end.tz_localize("UTC") if period_end.tzinfo is None else period_end.tz_convert("UTC"))
    if period_end <= as_of:
        raise InvalidInput("period_end must be after as_of", [{"field": "period_end", "message":
                           f"{period_end.isoformat()} is not after as_of {as_of.isoformat()}"}])
    _duplicates([d.opportunity.opportunity_id for d in request.opportunities], "opportunities")
    _check_stages(request, config)
    late = [{"field": f"opportunities.{i}.opportunity.created_at", "message": "created after as_of"}
            for i, d in enumerate(request.opportunities) if pd.Timestamp(d.opportunity.created_at) > as_of]
    if late:
        raise InvalidInput(f"{len(late)} deal(s) created after as_of cannot be open at as_of", late)
    data = frames_from_validated(open_deal_records(request.opportunities, model))
    deals = deal_inputs(data, as_of, period_end, config, model.bundle, model.rates)
    if not np.all(np.isfinite(deals["p_period"].to_numpy())):
        raise NotReady("the win model produced an invalid probability; it has been logged")
    result = forecast(deals, as_of, period_end, target=request.target, draws=request.draws, seed=request.seed,
                      group=request.by, logit_sd=period_logit_sd(model.bundle, (period_end - as_of) / DAY))
    out = result.to_dict()
    by_group = None
    if result.by_group is not None:
        frame = result.by_group.rename(columns={request.by: "group"})
        frame["group"] = frame["group"].astype(str)
        by_group = [s.GroupForecast(**{**row, "model": row.get("model")}) for row in frame.to_dict(orient="records")]
    return s.ForecastResponse(
        as_of=as_of.to_pydatetime(), period_end=period_end.to_pydatetime(),
        model=ModelRef(name=model.name, version=model.version, feature_set=model.bundle.feature_set),
        open_deals=out["open_deals"], pipeline_amount=out["pipeline_amount"], expected=out["expected"],
        distribution=s.Distribution(**out["distribution"]), target=request.target,
        p_reaching_target=out["p_reaching_target"], by_group=by_group, warnings=result.warnings)
