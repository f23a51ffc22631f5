"""The FastAPI application factory. The lifespan loads the models (in the background, so /readyz can
say 503 meanwhile) and optionally polls the alias for new versions."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi

from funnelcast.core.config import AppConfig, load_config
from funnelcast.serving import book_tasks, deliveries
from funnelcast.serving.deps import JSON_BODIES
from funnelcast.serving.errors import install_handlers
from funnelcast.serving.limits import TokenBuckets
from funnelcast.serving.metrics import Metrics
from funnelcast.serving.middleware import BodyLimit, RequestContext
from funnelcast.serving.models import KINDS
from funnelcast.serving.registry import ModelRegistry
from funnelcast.serving.reloads import swapped
from funnelcast.serving.routers import alerts, analytics, book, ops, scoring
from funnelcast.serving.settings import ServingSettings

logger = logging.getLogger(__name__)
DESCRIPTION = """Lead grading and deal health for a CRM.

Scores leads (probability of converting within the horizon, Hot/Warm/Cold grade, the BANT rule grade
beside it, reasons) and opportunities (win probability overall and within 30/60/90 days beside the
configured stage weight, health, risk flags, reasons). Every score is computed as of `as_of` (default:
now) from the records in the request, with the same feature code the models were trained with.

Send `X-API-Key` when keys are configured. Errors always have the shape
`{"error": {"code", "message", "details": [{"field", "message"}]}}`."""


def tune_gc() -> None:
    """A request with 1,000 leads x 50 activities creates ~100k short-lived objects; with the default
    thresholds the cyclic collector runs hundreds of times per request and walks every long-lived
    object (models, modules) each full pass, which tripled request validation time. Long-lived
    objects are frozen out of collection once loaded, and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _openapi(app: FastAPI) -> dict:
    """FastAPI's OpenAPI document plus the request models that routes read with `json_body`."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in JSON_BODIES:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components[model.__name__] = schema
        app.openapi_schema = spec
    return app.openapi_schema


def create_app(
    settings: ServingSettings | None = None,
    config: AppConfig | None = None,
    registry: ModelRegistry | None = None,
) -> FastAPI:
    settings = settings or ServingSettings()
    config = config or load_config(settings.config_dir)
    registry = registry or ModelRegistry(settings, config)
    metrics = Metrics()
    models_loaded = asyncio.Event()

    async def load_models() -> None:
        results = await run_in_threadpool(registry.load_all)
        for r in results:
            metrics.reloads.labels(r["kind"], r["result"]).inc()
        metrics.set_models([registry.get(k) for k in KINDS])
        tune_gc()
        models_loaded.set()

    async def poll() -> None:
        while True:
            await asyncio.sleep(settings.reload_poll_seconds)
            results = [await run_in_threadpool(registry.reload, kind) for kind in KINDS]
            swapped(app, results)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        tasks = [asyncio.create_task(load_models())]
        if settings.reload_poll_seconds > 0:
            tasks.append(asyncio.create_task(poll()))
        if settings.book:
            tasks.append(asyncio.create_task(book_tasks.run(app, models_loaded)))
            tasks.append(asyncio.create_task(deliveries.run(app)))
        yield
        for t in tasks:
            t.cancel()

    app = FastAPI(title="Funnelcast scoring API", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings, app.state.registry, app.state.metrics = settings, registry, metrics
    app.state.rate_limits = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
    app.state.book, app.state.book_problem = (
        None,
        "not opened" if settings.book else "turned off (FUNNELCAST_BOOK)",
    )
    app.state.book_model_due, app.state.book_checked = {}, {}
    install_handlers(app)
    app.include_router(scoring.router)
    app.include_router(analytics.router)
    app.include_router(book.router)
    app.include_router(alerts.router)
    app.include_router(ops.router)
    app.openapi = lambda: _openapi(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestContext, metrics=metrics, access_log=settings.access_log)  # outermost
    return app
