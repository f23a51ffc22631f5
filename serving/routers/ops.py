"""Models, health, readiness, metrics and the admin reload."""

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from funnelcast.core.errors import NotReady
from funnelcast.serving import schemas
from funnelcast.serving.deps import Registry
from funnelcast.serving.models import KINDS
from funnelcast.serving.reloads import swapped
from funnelcast.serving.security import AdminKey, ScoringKey

router = APIRouter()


@router.get(
    "/v1/models",
    response_model=schemas.ModelsResponse,
    tags=["models"],
    responses=schemas.error_responses(401, 429),
)
def models(_: ScoringKey, registry: Registry) -> schemas.ModelsResponse:
    """Loaded models: name, version, alias, source, feature set, when trained, test metrics."""
    loaded = [registry.get(k).info() for k in KINDS if registry.get(k) is not None]
    fallback = None if registry.get("lead") is not None else "bant-rule-grade"
    return schemas.ModelsResponse(models=loaded, lead_fallback=fallback, problems=dict(registry.last_errors))


@router.get("/healthz", tags=["health"])
def healthz() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], responses=schemas.error_responses(503))
async def readyz(registry: Registry, request: Request) -> dict:
    """Readiness: 503 until the models are loaded and checked. Open to anyone, so it says only which
    model is loading, missing or refused; why (with paths and versions) is in the log and, with a key,
    in `/v1/models`."""
    if not registry.ready:
        raise NotReady(
            "models are not loaded and checked yet",
            [{"field": k, "message": registry.state(k)} for k in KINDS if registry.get(k) is None],
        )
    state = request.app.state
    if state.settings.book and not await run_in_threadpool(_book_ok, state):
        raise NotReady("the book is not open", [{"field": "book", "message": "unavailable"}])
    return {"status": "ready", "models": {k: (m.version if (m := registry.get(k)) else None) for k in KINDS}}


def _book_ok(state) -> bool:
    from funnelcast.book.db import healthy

    return state.book is not None and healthy(state.book.engine)


@router.get(
    "/metrics",
    tags=["health"],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/v1/admin/reload",
    response_model=schemas.ReloadResponse,
    tags=["admin"],
    responses=schemas.error_responses(401, 403, 413, 422, 429),
)
async def reload(_: AdminKey, request: Request, registry: Registry) -> schemas.ReloadResponse:
    """Load the current alias (or export) of each model, check it and swap it in; a failure keeps the old."""
    results = [await run_in_threadpool(registry.reload, kind) for kind in KINDS]
    swapped(request.app, results)
    return schemas.ReloadResponse(results=[schemas.ReloadResult(**r) for r in results])
