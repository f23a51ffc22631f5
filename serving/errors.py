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
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        # the exception's headers stay (a 405 names the allowed methods in Allow)
        return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    # An exception no handler takes is answered by `middleware.RequestContext` (a JSON 500 with the
    # request id, one logged traceback, the connection kept): a handler registered here for Exception
    # would run in Starlette's outermost layer, which re-raises after answering, and the server then
    # logs a second traceback and closes the connection.
