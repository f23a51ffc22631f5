"""The FastAPI application factory. The lifespan loads the models (in the background, so /readyz can
say 503 meanwhile) and optionally polls the alias for new versions."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

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
from funnelcast.serving.workspace.router import router as workspace_router

logger = logging.getLogger(__name__)
WORKSPACE = Path(__file__).resolve().parent / "workspace"
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


def _offline_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from vendored assets (serving/workspace/static/vendor): nothing
    is fetched from a CDN, so they work on a machine without the internet."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    vendor, icon = "/app/static/vendor", "/app/static/favicon.svg"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
            swagger_css_url=f"{vendor}/swagger-ui.css",
            swagger_favicon_url=icon,
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{vendor}/redoc.standalone.js",
            redoc_favicon_url=icon,
            with_google_fonts=False,
        )


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
            tasks.append(asyncio.create_task(book_tasks.checkpoints(app)))
            tasks.append(asyncio.create_task(book_tasks.analytics(app, models_loaded)))
            tasks.append(asyncio.create_task(deliveries.run(app)))
        yield
        for t in tasks:
            t.cancel()
        leader = getattr(app.state, "leader", None)
        if leader is not None:  # the next server in this process (or another worker) takes over
            leader.release()

    app = FastAPI(
        title="Funnelcast scoring API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own assets: they work without the internet
        redoc_url=None,
    )
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
    app.include_router(workspace_router)
    app.mount("/app/static", StaticFiles(directory=str(WORKSPACE / "static")), name="workspace-static")
    given = settings.session_secret
    app.state.session_secret = given.get_secret_value() if given else secrets.token_hex(32)
    if settings.session_secret is None:
        logger.info("workspace sessions are signed with a random secret: they end with this process")
    _offline_docs(app)
    app.include_router(ops.router)
    app.openapi = lambda: _openapi(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestContext, metrics=metrics, access_log=settings.access_log)  # outermost
    return app
