"""Dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import pandas as pd
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from funnelcast.core.errors import TooLarge
from funnelcast.core.times import parse_instants
from funnelcast.serving.registry import ModelRegistry


async def get_registry(request: Request) -> ModelRegistry:  # async: no thread hop for a lookup
    return request.app.state.registry


Registry = Annotated[ModelRegistry, Depends(get_registry)]


def now_or(as_of: str | None) -> pd.Timestamp:
    """The request's as_of (ISO 8601 text, naive taken as UTC) as a UTC timestamp, else now: read once,
    at the edge. A time outside the supported range is a 422."""
    if as_of is None:
        return pd.Timestamp.now(tz="UTC").floor("s")
    return pd.Timestamp(int(parse_instants([as_of], lambda _: "as_of")[0]), unit="s", tz="UTC")


INLINE_RECORDS = 8  # up to this many records a request is scored on the event loop (about a millisecond)


async def run_scoring(records: int | None, fn, *args):
    """Score a small request inline (a thread hop would cost more than the work); larger ones, and
    any with `records=None`, in the thread pool so the event loop stays responsive."""
    if records is not None and records <= INLINE_RECORDS:
        return fn(*args)
    return await run_in_threadpool(fn, *args)


def check_size(
    n: int, registry: ModelRegistry, what: str, analytics: bool = False, book: bool = False
) -> None:
    settings = registry.settings
    if analytics:
        limit, name = settings.max_analytics_records, "FUNNELCAST_MAX_ANALYTICS_RECORDS"
        advice = "Use the funnel / forecast CLI on a data export."
    elif book:
        limit, name = settings.max_book_records, "FUNNELCAST_MAX_BOOK_RECORDS"
        advice = "Split the batch, or load a whole export with `funnelcast book load`."
    else:
        limit, name, advice = settings.max_records, "FUNNELCAST_MAX_RECORDS", "Split the request."
    if n > limit:
        raise TooLarge(f"{n} {what} in one request; the limit is {limit} ({name}). {advice}")


JSON_BODIES: list[type[BaseModel]] = []  # request models read by json_body (added to the OpenAPI components)


def json_body(model: type[BaseModel], parse: Callable[[bytes], object] | None = None):
    """The request body as `model`, parsed and validated in one pass by pydantic-core (JSON straight
    to the model), or by `parse` (which raises pydantic's errors as `model` would). FastAPI would
    json.loads the body into Python objects and validate those, which costs more on a large batch.
    Errors are the usual 422."""
    JSON_BODIES.append(model)
    parse_json = parse or model.model_validate_json

    async def read(request: Request):
        try:
            return parse_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None

    return Depends(read)


def documented_body(model: type[BaseModel]) -> dict:
    """`openapi_extra` for a route whose body `json_body` reads: the schema FastAPI would have shown."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }
