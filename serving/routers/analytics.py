"""Funnel and forecast routes: thin; the work is in serving.analytics_service."""

from fastapi import APIRouter

from serving import analytics_schemas as schemas
from serving import analytics_service
from serving.deps import Registry, check_size, now_or
from serving.schemas import error_responses
from serving.security import ScoringKey

router = APIRouter(prefix="/v1", tags=["funnel and forecast"],
                   responses=error_responses(401, 413, 422, 503))


@router.post("/funnel", response_model=schemas.FunnelResponse)
def funnel(body: schemas.FunnelRequest, registry: Registry, _: ScoringKey) -> schemas.FunnelResponse:
    """Funnel analytics of the posted deals as of a date: snapshot and cohort conversion, dwell and stall
    thresholds, win rate from each stage beside its weight, lead conversion, loss reasons, bottleneck and the
    stalled / skipped / hidden / regressed deal lists."""
    check_size(len(body.opportunities) + len(body.leads), registry, "records", analytics=True)
    return analytics_service.funnel(body, registry, now_or(body.as_of))


@router.post("/forecast", response_model=schemas.ForecastResponse)
def forecast(body: schemas.ForecastRequest, registry: Registry, _: ScoringKey) -> schemas.ForecastResponse:
    """Won revenue in (as_of, period_end] from the posted open deals: stage-weighted, historical stage rates and
    the win model side by side, P10 / P50 / P90 from seeded Monte Carlo draws and P(reaching the target)."""
    check_size(len(body.opportunities), registry, "opportunities", analytics=True)
    return analytics_service.forecast_deals(body, registry, now_or(body.as_of))
