"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import Depends, Request

from serving.errors import TooLarge
from serving.registry import ModelRegistry


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


Registry = Annotated[ModelRegistry, Depends(get_registry)]


def now_or(as_of) -> pd.Timestamp:
    """The request's as_of in UTC (naive taken as UTC), else now: read once, at the edge."""
    if as_of is None:
        return pd.Timestamp.now(tz="UTC").floor("s")
    ts = pd.Timestamp(as_of)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).floor("s")


def check_size(n: int, registry: ModelRegistry, what: str, analytics: bool = False) -> None:
    limit = registry.settings.max_analytics_records if analytics else registry.settings.max_records
    if n > limit:
        name = "FUNNELCAST_MAX_ANALYTICS_RECORDS" if analytics else "FUNNELCAST_MAX_RECORDS"
        advice = "Use the funnel / forecast CLI on a data export." if analytics else "Split the request."
        raise TooLarge(f"{n} {what} in one request; the limit is {limit} ({name}). {advice}")
