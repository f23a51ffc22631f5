"""Rules every request obeys beyond its schema: times inside the supported range (the data loader's
rule), ids unique."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from funnelcast.core.errors import InvalidInput
from funnelcast.core.times import check_datetimes


def _datetimes(value, path: str, out: list[tuple[str, datetime]]) -> None:
    if isinstance(value, datetime):
        out.append((path, value))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _datetimes(getattr(value, name), f"{path}.{name}" if path else name, out)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _datetimes(item, f"{path}.{i}", out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _datetimes(item, f"{path}.{key}", out)


def check_times(request: BaseModel) -> None:
    """Every datetime of a validated request lies in the supported range; each one outside is named."""
    found: list[tuple[str, datetime]] = []
    _datetimes(request, "", found)
    problems = check_datetimes(found)
    if problems:
        raise InvalidInput(f"{len(problems)} invalid time(s)", problems)


def unique_ids(ids: list[str], path: str) -> None:
    """Ids must be unique within a request: every repeat is named."""
    seen: dict[str, int] = {}
    details = []
    for i, value in enumerate(ids):
        if value in seen:
            details.append(
                {"field": f"{path}.{i}", "message": f"duplicate id {value!r} (first at {seen[value]})"}
            )
        seen.setdefault(value, i)
    if details:
        raise InvalidInput("ids must be unique within a request", details)
