"""Scoring routes: thin; the work is in serving.service."""

from typing import Annotated

from fastapi import APIRouter, Request, Response

from serving import schemas, service
from serving.deps import Registry, check_size, documented_body, json_body, now_or, run_scoring
from serving.lead_body import LeadRequest, parse_lead_request
from serving.security import ScoringKey

router = APIRouter(prefix="/v1", tags=["scoring"], responses=schemas.error_responses(401, 413, 422, 503))


@router.post("/leads/score", response_model=schemas.LeadScoreResponse,
             openapi_extra=documented_body(schemas.LeadScoreRequest))
async def score_leads(body: Annotated[LeadRequest, json_body(schemas.LeadScoreRequest, parse_lead_request)],
                      registry: Registry, _: ScoringKey, request: Request) -> Response:
    """Score leads: conversion probability, 0-100 score, Hot/Warm/Cold grade, BANT rule grade, reasons."""
    check_size(len(body.leads), registry, "leads")
    result = await run_scoring(len(body.leads), service.score_leads, body, registry, now_or(body.as_of))
    request.app.state.metrics.records.labels("lead").inc(len(result.results))
    # serialised once here: FastAPI would otherwise re-validate the whole response against its model
    return Response(result.model_dump_json(), media_type="application/json")


@router.post("/opportunities/score", response_model=schemas.OpportunityScoreResponse,
             openapi_extra=documented_body(schemas.OpportunityScoreRequest))
async def score_opportunities(
        body: Annotated[schemas.OpportunityScoreRequest, json_body(schemas.OpportunityScoreRequest)],
        registry: Registry, _: ScoringKey, request: Request) -> schemas.OpportunityScoreResponse:
    """Score deals: P(won) overall and within 30/60/90 days, stage weight beside it, health, risk flags, reasons."""
    check_size(len(body.opportunities), registry, "opportunities")
    # deals still go through the pandas pipeline (tens of ms): always off the event loop
    result = await run_scoring(None, service.score_opportunities, body, registry, now_or(body.as_of))
    request.app.state.metrics.records.labels("opportunity").inc(len(result.results))
    return result
