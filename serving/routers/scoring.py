"""Scoring routes: thin; the work is in funnelcast.serving.scoring."""

from typing import Annotated

from fastapi import APIRouter, Request, Response

from funnelcast.serving import schemas
from funnelcast.serving.deps import Registry, check_size, documented_body, json_body, now_or, run_scoring
from funnelcast.serving.scoring.body import DealRequest, LeadRequest, parse_deal_request, parse_lead_request
from funnelcast.serving.scoring.deals import score_opportunities
from funnelcast.serving.scoring.leads import score_leads
from funnelcast.serving.security import ScoringKey

router = APIRouter(prefix="/v1", tags=["scoring"], responses=schemas.error_responses(401, 413, 422, 429, 503))


@router.post(
    "/leads/score",
    response_model=schemas.LeadScoreResponse,
    openapi_extra=documented_body(schemas.LeadScoreRequest),
)
async def score_lead_batch(
    _: ScoringKey,  # first: the key is checked from the headers before the body is read
    body: Annotated[LeadRequest, json_body(schemas.LeadScoreRequest, parse_lead_request)],
    registry: Registry,
    request: Request,
) -> Response:
    """Score leads: conversion probability, 0-100 score, Hot/Warm/Cold grade, BANT rule grade, reasons."""
    check_size(len(body.leads), registry, "leads")
    result = await run_scoring(
        len(body.leads),
        score_leads,
        body,
        registry.scoring_model("lead"),
        registry.config,
        now_or(body.as_of),
    )
    request.app.state.metrics.records.labels("lead").inc(len(result.results))
    # serialised once here: FastAPI would otherwise re-validate the whole response against its model
    return Response(result.model_dump_json(), media_type="application/json")


@router.post(
    "/opportunities/score",
    response_model=schemas.OpportunityScoreResponse,
    openapi_extra=documented_body(schemas.OpportunityScoreRequest),
)
async def score_deal_batch(
    _: ScoringKey,  # first: the key is checked from the headers before the body is read
    body: Annotated[DealRequest, json_body(schemas.OpportunityScoreRequest, parse_deal_request)],
    registry: Registry,
    request: Request,
) -> Response:
    """Score deals: P(won) overall and within 30/60/90 days beside the stage weight, health, risk, reasons."""
    check_size(len(body.opportunities), registry, "opportunities")
    result = await run_scoring(
        len(body.opportunities),
        score_opportunities,
        body,
        registry.scoring_model("opportunity"),
        registry.config,
        now_or(body.as_of),
        registry.last_errors.get("opportunity", "loading"),
    )
    request.app.state.metrics.records.labels("opportunity").inc(len(result.results))
    return Response(result.model_dump_json(), media_type="application/json")
