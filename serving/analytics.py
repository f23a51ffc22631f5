"""Funnel and forecast for the API: request records -> canonical frames -> the same analytics code
as `funnelcast funnel` / `funnelcast forecast` (and, for forecasts, the loaded win model)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.analytics.forecast import forecast
from funnelcast.analytics.funnel import funnel_report
from funnelcast.analytics.pipeline_inputs import deal_inputs, period_logit_sd
from funnelcast.core.config import AppConfig
from funnelcast.core.errors import InvalidInput, NotReady
from funnelcast.core.times import utc
from funnelcast.features.known import known_at
from funnelcast.features.records import frames_from_validated
from funnelcast.features.schema import CUSTOM_PREFIX
from funnelcast.serving import schemas as s
from funnelcast.serving.checks import unique_ids, with_datetimes
from funnelcast.serving.models import LoadedModel
from funnelcast.serving.scoring.deals import check_stages

DAY = pd.Timedelta(days=1)


def _row(values: dict) -> dict:
    """A dumped request model as a canonical row; its custom attributes become custom.<name> columns."""
    row = {k: v for k, v in values.items() if k != "custom"}
    for name, value in (values.get("custom") or {}).items():
        row[CUSTOM_PREFIX + name] = value
    return row


def _accounts(items: list[dict]) -> list[dict]:
    found = {}
    for item in items:
        if item.get("account") is not None:
            found[item["account"]["account_id"]] = _row(item["account"])
    return list(found.values())


def deal_records(items: list[dict], declarations: list[dict], closed: bool = False) -> dict[str, list[dict]]:
    """Canonical records of deals as the API receives them (dumped, times converted): the deals with their
    histories, activities and accounts; `closed`: the items carry outcome, closed_at and loss_reason."""
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
        oid = item["opportunity"]["opportunity_id"]
        outcome = (
            {k: item.get(k) for k in ("outcome", "closed_at", "loss_reason")}
            if closed
            else {"outcome": "open"}
        )
        records["opportunities"].append({**_row(item["opportunity"]), **outcome})
        for name in ("stage_history", "close_date_history", "amount_history"):
            records[name] += [{**row, "opportunity_id": oid} for row in item.get(name, [])]
        for owner, entity_type, name in (
            (oid, "opportunity", "activities"),
            (item["opportunity"]["account_id"], "account", "account_activities"),
        ):
            records["activities"] += [
                {**a, "entity_type": entity_type, "entity_id": owner} for a in item.get(name, [])
            ]
    return records


def funnel(request: s.FunnelRequest, config: AppConfig, as_of: pd.Timestamp) -> s.FunnelResponse:
    body = with_datetimes(request.model_dump())
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
    records = deal_records(body["opportunities"], [], closed=True)
    records["leads"] = body["leads"]
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
    body = with_datetimes(request.model_dump())
    period_end = utc(body["period_end"])
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
        for i, d in enumerate(body["opportunities"])
        if d["opportunity"]["created_at"] > as_of
    ]
    if late:
        raise InvalidInput(f"{len(late)} deal(s) created after as_of cannot be open at as_of", late)
    data = frames_from_validated(deal_records(body["opportunities"], model.declarations))
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
