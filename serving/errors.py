"""Errors of the serving package, each with its HTTP status, and the one error body shape:
{"error": {"code": ..., "message": ..., "details": [{"field": ..., "message": ...}]}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.errors import DataValidationError
from funnelcast.errors import FunnelcastError
from serving.schemas import ISO_INSTANT

logger = logging.getLogger(__name__)


class ServingError(FunnelcastError):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class Unauthorized(ServingError):
    status, code = 401, "unauthorized"


class Forbidden(ServingError):
    status, code = 403, "forbidden"


class TooLarge(ServingError):
    status, code = 413, "too_large"


class InvalidInput(ServingError):
    status, code = 422, "invalid_input"


class NotReady(ServingError):
    status, code = 503, "not_ready"


def body(code: str, message: str, details: list[dict] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def not_iso_message(text) -> str:
    return f"{text!r} is not an ISO 8601 date-time (e.g. 2025-05-20T09:30:00Z; no offset: UTC)"


def _message(error: dict) -> str:
    """pydantic's message, except where it would show a regular expression to a CRM developer."""
    if error["type"] == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == ISO_INSTANT:
        return not_iso_message(error.get("input"))
    return error["msg"]


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServingError)
    async def _serving(_: Request, exc: ServingError) -> JSONResponse:
        headers = {"WWW-Authenticate": "ApiKey"} if exc.status == 401 else None
        return JSONResponse(body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": _field(e["loc"]), "message": _message(e)} for e in exc.errors()]
        return JSONResponse(body("invalid_input", f"{len(details)} invalid field(s)", details), status_code=422)

    @app.exception_handler(DataValidationError)
    async def _data(_: Request, exc: DataValidationError) -> JSONResponse:
        details = [{"field": f"{p.file}[{p.row}].{p.column}" if p.row is not None else p.file,
                    "message": f"{p.message} [{p.rule}]"} for p in exc.problems]
        return JSONResponse(body("invalid_input", f"{len(details)} invalid value(s)", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
                     exc_info=exc)
        return JSONResponse(body("internal_error", "internal error; it has been logged"), status_code=500)
