"""The one error body shape of the API, {"error": {"code", "message", "details": [{"field", "message"}]}},
and the handlers that give every error it (statuses come from `funnelcast.core.errors`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from funnelcast.core.errors import FunnelcastError, RateLimited
from funnelcast.core.times import ISO_INSTANT, not_iso_message


def body(code: str, message: str, details: list[dict] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def _message(error: dict) -> str:
    """pydantic's message, except where it would show a regular expression to a CRM developer."""
    if error["type"] == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == ISO_INSTANT:
        return not_iso_message(error.get("input"))
    return error["msg"]


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document lists for the path template matching `path`."""
    import re

    table = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"),
                sorted(m.upper() for m in ops),
            )
            for template, ops in app.openapi()["paths"].items()
        ]
        app.state.allowed_methods = table
    return next((methods for pattern, methods in table if pattern.match(path)), [])


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(FunnelcastError)
    async def _known(_: Request, exc: FunnelcastError) -> JSONResponse:
        headers = {"WWW-Authenticate": "ApiKey"} if exc.http_status == 401 else None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
        return JSONResponse(
            body(exc.code, exc.message, exc.details), status_code=exc.http_status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": _field(e["loc"]), "message": _message(e)} for e in exc.errors()]
        return JSONResponse(
            body("invalid_input", f"{len(details)} invalid field(s)", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:  # Allow names every method of the path, not only the first route's
            allowed = _allowed_methods(request.app, request.url.path)
            if allowed:
                exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        # the exception's headers stay (a 405 names the allowed methods in Allow)
        return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    # An exception no handler takes is answered by `middleware.RequestContext` (a JSON 500 with the
    # request id, one logged traceback, the connection kept): a handler registered here for Exception
    # would run in Starlette's outermost layer, which re-raises after answering, and the server then
    # logs a second traceback and closes the connection.
