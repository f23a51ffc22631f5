"""Funnel and forecast routes: thin; the work is in funnelcast.serving.analytics."""

from typing import Annotated

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from funnelcast.serving import analytics
from funnelcast.serving import schemas as s
from funnelcast.serving.deps import Registry, check_size, documented_body, json_body, now_or
from funnelcast.serving.security import ScoringKey

router = APIRouter(
    prefix="/v1", tags=["funnel and forecast"], responses=s.error_responses(401, 413, 422, 429, 503)
)


@router.post("/funnel", response_model=s.FunnelResponse, openapi_extra=documented_body(s.FunnelRequest))
async def funnel(
    _: ScoringKey,  # first: the key is checked from the headers before the body is read
    body: Annotated[s.FunnelRequest, json_body(s.FunnelRequest)],
    registry: Registry,
) -> s.FunnelResponse:
    """Funnel analytics of the posted deals as of a date: snapshot and cohort conversion, dwell and stall
    thresholds, win rate from each stage beside its weight, lead conversion, loss reasons, bottleneck and the
    stalled / skipped / hidden / regressed deal lists."""
    check_size(len(body.opportunities) + len(body.leads), registry, "records", analytics=True)
    return await run_in_threadpool(analytics.funnel, body, registry.config, now_or(body.as_of))


@router.post("/forecast", response_model=s.ForecastResponse, openapi_extra=documented_body(s.ForecastRequest))
async def forecast(
    _: ScoringKey,  # first: the key is checked from the headers before the body is read
    body: Annotated[s.ForecastRequest, json_body(s.ForecastRequest)],
    registry: Registry,
) -> s.ForecastResponse:
    """Won revenue in (as_of, period_end] from the posted open deals: stage-weighted, historical stage rates
    and the win model side by side, P10 / P50 / P90 from seeded Monte Carlo draws and P(reaching the
    target)."""
    check_size(len(body.opportunities), registry, "opportunities", analytics=True)
    return await run_in_threadpool(
        analytics.forecast_deals,
        body,
        registry.scoring_model("opportunity"),
        registry.config,
        now_or(body.as_of),
        registry.last_errors.get("opportunity", "loading"),
    )
