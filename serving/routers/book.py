"""The book's routes: batches in (idempotent by id, one transaction each, re-scored on arrival) and
scores out (by id, as pages in priority order, as history). Thin; the work is in
funnelcast.serving.ingestion and funnelcast.book."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from funnelcast.book import reads
from funnelcast.core.errors import NotFound, NotReady
from funnelcast.serving import schemas as s
from funnelcast.serving.deps import check_size, documented_body, json_body
from funnelcast.serving.ingestion import ingest
from funnelcast.serving.regrade import BookScorer
from funnelcast.serving.security import ScoringKey

router = APIRouter(prefix="/v1", tags=["book"], responses=s.error_responses(401, 422, 429, 503))


def _book(request: Request) -> BookScorer:
    book = request.app.state.book
    if book is None:
        raise NotReady(
            "the book is not open",
            [{"field": "book", "message": request.app.state.book_problem or "opening"}],
        )
    return book


def _ingest(request: Request, key: str, body) -> s.IngestResult:
    book = _book(request)
    items = getattr(body, key)
    check_size(len(items), book.registry, key, book=True)
    result = ingest(book, book.config, key, items, body.as_of)
    metrics = request.app.state.metrics
    for what in ("inserted", "updated", "unchanged"):
        metrics.book_records.labels(key, what).inc(result[what])
    for kind, n in result["rescored"].items():
        metrics.book_rescored.labels(kind, "event").inc(n)
    return s.IngestResult(**result)


def _route(method: str, path: str, key: str, model, summary: str):
    def handler(
        _: ScoringKey, request: Request, body: Annotated[model, json_body(model)]
    ) -> s.IngestResult:  # first: the key is checked from the headers before the body is read
        return _ingest(request, key, body)

    handler.__doc__ = summary
    handler.__name__ = f"book_{key}"
    router.add_api_route(
        path,
        handler,
        methods=[method],
        response_model=s.IngestResult,
        openapi_extra=documented_body(model),
        responses=s.error_responses(413),
        summary=summary.split(".")[0],
    )


_route(
    "PUT",
    "/book/accounts",
    "accounts",
    s.AccountBatch,
    "Keep accounts (upsert by id); their leads and deals are re-scored.",
)
_route(
    "PUT",
    "/book/leads",
    "leads",
    s.LeadBatch,
    "Keep leads (upsert by id); each new or changed lead is scored.",
)
_route(
    "PUT",
    "/book/opportunities",
    "opportunities",
    s.OpportunityBatch,
    "Keep deals (upsert by id); each new or changed deal is scored.",
)
_route(
    "POST",
    "/book/activities",
    "activities",
    s.ActivityBatch,
    "Append activities (a replayed id is a no-op, a changed one an update); "
    "what they belong to is re-scored.",
)
_route(
    "POST",
    "/book/stage-changes",
    "stage_changes",
    s.StageChangeBatch,
    "Append stage entries of deals; the deals are re-scored.",
)
_route(
    "POST",
    "/book/close-date-changes",
    "close_date_changes",
    s.CloseDateChangeBatch,
    "Append expected-close-date changes; the deals are re-scored.",
)
_route(
    "POST",
    "/book/amount-changes",
    "amount_changes",
    s.AmountChangeBatch,
    "Append amount changes; the deals are re-scored.",
)

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")]


@router.get("/leads", response_model=s.LeadPage, tags=["book"])
def lead_list(
    _: ScoringKey,
    request: Request,
    grade: Annotated[Literal["Hot", "Warm", "Cold"] | None, Query()] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    stale: bool | None = None,
    sort: Literal["priority"] = "priority",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> s.LeadPage:
    """Scored open leads, highest probability first (ties by id), filtered; stable cursor pages."""
    with _book(request).engine.connect() as conn:
        items, nxt = reads.leads(
            conn, grade=grade, owner=owner, source=source, stale=stale, limit=limit, cursor=cursor
        )
    return s.LeadPage(items=items, next_cursor=nxt)


@router.get("/leads/{lead_id}", response_model=s.BookLeadScore, responses=s.error_responses(404))
def lead_by_id(_: ScoringKey, request: Request, lead_id: str) -> dict:
    """A lead's latest score from the book (nothing to send): grade, probability, reasons, since when,
    which model. 404 names why there is none (unknown, converted, disqualified, not scored yet)."""
    with _book(request).engine.connect() as conn:
        found = reads.lead(conn, lead_id)
        if found is None:
            state = reads.lead_state(conn, lead_id)
            raise NotFound(
                f"lead {lead_id!r} has no score in the book",
                [{"field": "lead_id", "message": _WHY[state]}],
            )
    return found


@router.get("/leads/{lead_id}/history", response_model=s.History, responses=s.error_responses(404))
def lead_history(_: ScoringKey, request: Request, lead_id: str) -> s.History:
    """Every change of the lead's grade or score: when, from, to, and what moved it (an event, the clock
    or a new model), with the reasons then."""
    with _book(request).engine.connect() as conn:
        changes = reads.history(conn, "lead", lead_id)
        if not changes and reads.lead_state(conn, lead_id) == "unknown":
            raise NotFound(
                f"lead {lead_id!r} is not in the book", [{"field": "lead_id", "message": "unknown"}]
            )
    return s.History(id=lead_id, changes=changes)


@router.get("/opportunities", response_model=s.DealPage)
def deal_list(
    _: ScoringKey,
    request: Request,
    health: Annotated[Literal["healthy", "at_risk", "critical"] | None, Query()] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    pipeline: Annotated[str | None, Query(max_length=200)] = None,
    stage: Annotated[str | None, Query(max_length=200)] = None,
    sort: Literal["risk_amount"] = "risk_amount",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> s.DealPage:
    """Scored open deals, most at risk x amount first, filtered; stable cursor pages."""
    with _book(request).engine.connect() as conn:
        items, nxt = reads.deals(
            conn, health=health, owner=owner, pipeline=pipeline, stage=stage, limit=limit, cursor=cursor
        )
    return s.DealPage(items=items, next_cursor=nxt)


@router.get(
    "/opportunities/{opportunity_id}", response_model=s.BookDealScore, responses=s.error_responses(404)
)
def deal_by_id(_: ScoringKey, request: Request, opportunity_id: str) -> dict:
    """A deal's latest score from the book: P(won) and horizons, health, risk flags, reasons."""
    with _book(request).engine.connect() as conn:
        found = reads.deal(conn, opportunity_id)
        if found is None:
            state = reads.deal_state(conn, opportunity_id)
            raise NotFound(
                f"opportunity {opportunity_id!r} has no score in the book",
                [{"field": "opportunity_id", "message": _WHY[state]}],
            )
    return found


@router.get(
    "/opportunities/{opportunity_id}/history", response_model=s.History, responses=s.error_responses(404)
)
def deal_history(_: ScoringKey, request: Request, opportunity_id: str) -> s.History:
    """Every change of the deal's health band or score, and what moved it."""
    with _book(request).engine.connect() as conn:
        changes = reads.history(conn, "opportunity", opportunity_id)
        if not changes and reads.deal_state(conn, opportunity_id) == "unknown":
            raise NotFound(
                f"opportunity {opportunity_id!r} is not in the book",
                [{"field": "opportunity_id", "message": "unknown"}],
            )
    return s.History(id=opportunity_id, changes=changes)


_WHY = {
    "unknown": "the book does not hold it",
    "converted": "converted: it is an opportunity now",
    "disqualified": "disqualified",
    "won": "won",
    "lost": "lost",
    "pending": "not scored yet (created after the last score's as_of, or waiting for a model)",
}
