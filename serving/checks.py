"""Rules every request obeys beyond its schema: times are ISO 8601 texts inside the supported range
(the data loader's rule), ids are unique."""

from __future__ import annotations

from datetime import UTC, datetime

from funnelcast.core.errors import InvalidInput
from funnelcast.core.times import parse_instants

TIME_FIELDS = frozenset(
    {
        "created_at",
        "expected_close_date",
        "entered_at",
        "changed_at",
        "closed_at",
        "converted_at",
        "disqualified_at",
        "occurred_at",
        "timeline_date",
        "as_of",
        "period_end",
    }
)


def _find(value, path: str, out: list[tuple[list, object, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key in TIME_FIELDS and isinstance(item, str):
                out.append((where, value, key))
            else:
                _find(item, where, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _find(item, f"{path}.{i}", out)


def with_datetimes(dumped: dict) -> dict:
    """A dumped request (`model_dump()`) with every time text replaced by its UTC datetime, in place;
    every time that is not a real ISO 8601 time in the supported range is named, all at once."""
    found: list = []
    _find(dumped, "", found)
    seconds = parse_instants([holder[key] for _, holder, key in found], lambda i: found[i][0])
    for (_, holder, key), s in zip(found, seconds.tolist(), strict=True):
        holder[key] = datetime.fromtimestamp(s, UTC)
    return dumped


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
