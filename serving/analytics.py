"""Funnel and forecast for the API: request records -> canonical frames -> the same analytics code
as `funnelcast funnel` / `funnelcast forecast` (and, for forecasts, the loaded win model)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from funnelcast.analytics.forecast import forecast
from funnelcast.analytics.funnel import funnel_report
from funnelcast.analytics.pipeline_inputs import deal_inputs, period_logit_sd
from funnelcast.core.config import AppConfig
from funnelcast.core.errors import InvalidInput, NotReady
from funnelcast.core.times import parse_instants, utc
from funnelcast.features.known import known_at
from funnelcast.features.records import frames_from_validated
from funnelcast.features.schema import CUSTOM_PREFIX
from funnelcast.serving import schemas as s
from funnelcast.serving.checks import check_times, unique_ids
from funnelcast.serving.models import LoadedModel
from funnelcast.serving.scoring.deals import check_stages

DAY = pd.Timedelta(days=1)


def record(item) -> dict:
    """A request model as a canonical row; its custom attributes become custom.<name> columns."""
    row = item.model_dump(exclude={"custom"})
    for name, value in (getattr(item, "custom", None) or {}).items():
        row[CUSTOM_PREFIX + name] = value
    return row


def _accounts(items) -> list[dict]:
    found = {}
    for item in items:
        if item.account is not None:
            found[item.account.account_id] = record(item.account)
    return list(found.values())


def open_deal_records(items: list[s.OpportunityItem], declarations: list[dict]) -> dict[str, list[dict]]:
    """Canonical records of open deals as the API receives them (with their histories and accounts)."""
    records: dict[str, list[dict]] = {
        "opportunities": [],
        "stage_history": [],
        "close_date_history": [],
        "amount_history": [],
        "activities": [],
        "accounts": _accounts(items),
        "custom_attributes": declarations,
    }
    for item in items:
        oid = item.opportunity.opportunity_id
        records["opportunities"].append({**record(item.opportunity), "outcome": "open"})
        for name in ("stage_history", "close_date_history", "amount_history"):
            records[name] += [{**row.model_dump(), "opportunity_id": oid} for row in getattr(item, name)]
    times = [a["occurred_at"] for item in items for a in item.activities]
    where = [(i, j) for i, item in enumerate(items) for j in range(len(item.activities))]
    seconds = parse_instants(times, lambda k: "opportunities.{}.activities.{}.occurred_at".format(*where[k]))
    k = 0
    for item in items:
        for a in item.activities:
            records["activities"].append(
                {
                    **a,
                    "occurred_at": datetime.fromtimestamp(int(seconds[k]), UTC),
                    "entity_type": "opportunity",
                    "entity_id": item.opportunity.opportunity_id,
                }
            )
            k += 1
    return records


def funnel(request: s.FunnelRequest, config: AppConfig, as_of: pd.Timestamp) -> s.FunnelResponse:
    check_times(request)
    unique_ids([d.opportunity.opportunity_id for d in request.opportunities], "opportunities")
    unique_ids([lead.lead_id for lead in request.leads], "leads")
    check_stages(request.opportunities, config)
    missing = [
        {"field": f"opportunities.{i}.closed_at", "message": f"a {d.outcome} deal needs closed_at"}
        for i, d in enumerate(request.opportunities)
        if d.outcome != "open" and d.closed_at is None
    ]
    if missing:
        raise InvalidInput(f"{len(missing)} closed deal(s) without closed_at", missing)
    records: dict[str, list[dict]] = {
        "opportunities": [],
        "stage_history": [],
        "accounts": _accounts(request.opportunities),
        "leads": [lead.model_dump() for lead in request.leads],
    }
    for d in request.opportunities:
        oid = d.opportunity.opportunity_id
        records["opportunities"].append(
            {
                **record(d.opportunity),
                "outcome": d.outcome,
                "closed_at": d.closed_at,
                "loss_reason": d.loss_reason,
            }
        )
        records["stage_history"] += [{**row.model_dump(), "opportunity_id": oid} for row in d.stage_history]
    data = known_at(frames_from_validated(records), as_of)
    report = funnel_report(data, config, as_of, by=request.by)
    return s.FunnelResponse(**report.to_dict())


def forecast_deals(
    request: s.ForecastRequest,
    model: LoadedModel | None,
    config: AppConfig,
    as_of: pd.Timestamp,
    not_loaded: str = "loading",
) -> s.ForecastResponse:
    if model is None:
        raise NotReady("no win-probability model is loaded yet", [{"field": "model", "message": not_loaded}])
    check_times(request)
    period_end = utc(request.period_end)
    if period_end <= as_of:
        raise InvalidInput(
            "period_end must be after as_of",
            [
                {
                    "field": "period_end",
                    "message": f"{period_end.isoformat()} is not after as_of {as_of.isoformat()}",
                }
            ],
        )
    unique_ids([d.opportunity.opportunity_id for d in request.opportunities], "opportunities")
    check_stages(request.opportunities, config)
    late = [
        {"field": f"opportunities.{i}.opportunity.created_at", "message": "created after as_of"}
        for i, d in enumerate(request.opportunities)
        if pd.Timestamp(d.opportunity.created_at) > as_of
    ]
    if late:
        raise InvalidInput(f"{len(late)} deal(s) created after as_of cannot be open at as_of", late)
    data = frames_from_validated(open_deal_records(request.opportunities, model.declarations))
    deals = deal_inputs(data, as_of, period_end, config, model.bundle.predict, model.rates)
    if not np.all(np.isfinite(deals["p_period"].to_numpy())):
        raise NotReady("the win model produced an invalid probability; it has been logged")
    result = forecast(
        deals,
        as_of,
        period_end,
        target=request.target,
        draws=request.draws,
        seed=request.seed,
        group=request.by,
        logit_sd=period_logit_sd(model.bundle.metadata, (period_end - as_of) / DAY),
    )
    out = result.to_dict()
    by_group = None
    if result.by_group is not None:
        frame = result.by_group.rename(columns={request.by: "group"})
        frame["group"] = frame["group"].astype(str)
        by_group = [
            s.GroupForecast(**{**row, "model": row.get("model")}) for row in frame.to_dict(orient="records")
        ]
    return s.ForecastResponse(
        as_of=as_of.to_pydatetime(),
        period_end=period_end.to_pydatetime(),
        model=s.ModelRef(name=model.name, version=model.version, feature_set=model.bundle.feature_set),
        open_deals=out["open_deals"],
        pipeline_amount=out["pipeline_amount"],
        expected=out["expected"],
        distribution=s.Distribution(**out["distribution"]),
        target=request.target,
        p_reaching_target=out["p_reaching_target"],
        by_group=by_group,
        warnings=result.warnings,
    )
