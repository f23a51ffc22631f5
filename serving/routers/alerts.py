"""Webhook subscriptions and deliveries (admin key), duplicate leads, handover. Thin; the work is in
funnelcast.book (webhooks, matching, handover) and funnelcast.serving.deliveries."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from funnelcast.book import handover as handovers
from funnelcast.book import reads, webhooks
from funnelcast.core.errors import NotFound
from funnelcast.serving import schemas as s
from funnelcast.serving.deps import documented_body, json_body
from funnelcast.serving.regrade import now_text
from funnelcast.serving.routers.book import _book
from funnelcast.serving.security import AdminKey, ScoringKey

router = APIRouter(prefix="/v1", responses=s.error_responses(401, 422, 429, 503))


@router.post(
    "/webhooks",
    status_code=201,
    response_model=s.WebhookCreated,
    tags=["alerts"],
    openapi_extra=documented_body(s.WebhookIn),
    responses=s.error_responses(403, 413),
)
def create_webhook(
    _: AdminKey, request: Request, body: Annotated[s.WebhookIn, json_body(s.WebhookIn)]
) -> dict:
    """Subscribe a URL to alert kinds. Deliveries are POSTed as JSON with `X-Funnelcast-Signature:
    v1=<HMAC-SHA256 of "<timestamp>.<body>">` and `X-Funnelcast-Timestamp`; the secret is shown once."""
    with _book(request).engine.begin() as conn:
        return webhooks.create(conn, body.url, list(body.kinds), body.description, body.secret, now_text())


@router.get("/webhooks", response_model=s.WebhookList, tags=["alerts"], responses=s.error_responses(403))
def list_webhooks(_: AdminKey, request: Request) -> s.WebhookList:
    """Every subscription (without secrets)."""
    with _book(request).engine.connect() as conn:
        return s.WebhookList(webhooks=webhooks.listed(conn))


@router.delete(
    "/webhooks/{webhook_id}", status_code=204, tags=["alerts"], responses=s.error_responses(403, 404)
)
def delete_webhook(_: AdminKey, request: Request, webhook_id: str) -> Response:
    """Unsubscribe; undelivered alerts of the subscription are dropped."""
    with _book(request).engine.begin() as conn:
        if not webhooks.remove(conn, webhook_id):
            raise NotFound(f"no webhook {webhook_id!r}", [{"field": "webhook_id", "message": "unknown"}])
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=s.DeliveryList,
    tags=["alerts"],
    responses=s.error_responses(403, 404),
)
def list_deliveries(
    _: AdminKey,
    request: Request,
    webhook_id: str,
    state: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> s.DeliveryList:
    """Deliveries of a subscription, newest first; `state=failed` lists what never got through."""
    with _book(request).engine.connect() as conn:
        if webhooks.get(conn, webhook_id) is None:
            raise NotFound(f"no webhook {webhook_id!r}", [{"field": "webhook_id", "message": "unknown"}])
        return s.DeliveryList(deliveries=webhooks.deliveries(conn, webhook_id, state, limit))


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    tags=["alerts"],
    responses=s.error_responses(403, 404, 413),
)
def replay_delivery(
    _: AdminKey, request: Request, webhook_id: str, delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> dict:
    """Send a delivery again (after the receiver was fixed)."""
    with _book(request).engine.begin() as conn:
        if not webhooks.replay(conn, webhook_id, delivery_id, now_text()):
            raise NotFound(
                f"no delivery {delivery_id} of webhook {webhook_id!r}",
                [{"field": "delivery_id", "message": "unknown"}],
            )
    return {"replayed": delivery_id}


@router.get(
    "/leads/{lead_id}/duplicates",
    response_model=s.Duplicates,
    tags=["book"],
    responses=s.error_responses(404),
)
def lead_duplicates(_: ScoringKey, request: Request, lead_id: str) -> s.Duplicates:
    """Open leads and accounts of the same customer (撞单), who works them, and the evidence."""
    with _book(request).engine.connect() as conn:
        if reads.lead_state(conn, lead_id) == "unknown":
            raise NotFound(
                f"lead {lead_id!r} is not in the book", [{"field": "lead_id", "message": "unknown"}]
            )
        return s.Duplicates(lead_id=lead_id, duplicates=reads.duplicates(conn, lead_id))


def _weights(config) -> dict[tuple[str, str], float]:
    return {(p.key, st.key): st.weight for p in config.funnel.pipelines for st in p.all_stages}


@router.get("/handover", response_model=s.Handover, tags=["book"])
def handover_list(
    _: ScoringKey, request: Request, owner: Annotated[str, Query(min_length=1, max_length=128)]
) -> s.Handover:
    """A rep's open deals and leads in handover order: stages weighted 75 %+ first (in person), then
    50 % (by phone), then the top of the funnel and the leads; by stage weight, amount and health."""
    book = _book(request)
    with book.engine.connect() as conn:
        items = handovers.handover_list(conn, owner, _weights(book.config))
    return s.Handover(owner=owner, to=None, moved=0, items=items)


@router.post(
    "/handover",
    response_model=s.Handover,
    tags=["book"],
    openapi_extra=documented_body(s.HandoverIn),
    responses=s.error_responses(403, 413),
)
def handover_do(
    _: AdminKey, request: Request, body: Annotated[s.HandoverIn, json_body(s.HandoverIn)]
) -> s.Handover:
    """Hand every open deal and lead of `owner` to `to`, in the order above; each move is in the history."""
    book = _book(request)
    with book.writing() as conn:
        items = handovers.handover_list(conn, body.owner, _weights(book.config))
        moved = handovers.reassign(conn, items, body.owner, body.to, now_text())
    return s.Handover(owner=body.owner, to=body.to, moved=moved, items=items)
