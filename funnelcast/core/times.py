"""Time conversion, in one place: every timestamp becomes UTC unix seconds (int64), floored to the
second, missing as -1; without an offset a time is UTC. Features compare whole seconds.

Texts from requests are checked against `ISO_INSTANT` (the pattern the API documents) and
converted by the standard library (a few) or pandas' ISO 8601 parser (many): on a 1,000-lead x
50-activity request pandas was faster than the hand-written digit arithmetic this module replaced,
so the simpler code stays (docs/benchmarks.md). Times outside the supported range
(1970-01-01 up to 2100-01-01, the data loader's rule) are refused everywhere alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from funnelcast.core.errors import InvalidInput

# The accepted shapes of a time text, D standing for an ASCII digit (\d would admit other scripts' digits).
INSTANT_SHAPES = r"DDDD-DD-DD(?:[T ]DD:DD(?::DD(?:\.D{1,9})?)?(?:Z|[+-]DD(?::?DD)?)?)?"
ISO_INSTANT = "^" + INSTANT_SHAPES.replace("D", "[0-9]") + "$"
EXAMPLE = "2025-05-20T09:30:00Z"
_ISO = re.compile(ISO_INSTANT)

EARLIEST = pd.Timestamp("1970-01-01", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")
EARLIEST_S, LATEST_S = 0, int(LATEST.timestamp())
MISSING = -1
SECONDS_PER_DAY = 86_400
_EPOCH, _SECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(seconds=1)
_FEW = 64  # below this many texts the standard library beats setting up pandas


def to_seconds(times) -> np.ndarray:
    """Timestamps (a pandas Series or index of datetimes, or datetime64 values) as int64 UTC unix
    seconds, floored; naive values are UTC; missing becomes -1."""
    values = times if isinstance(times, pd.DatetimeIndex) else pd.DatetimeIndex(times)
    if values.tz is None:
        values = values.tz_localize("UTC")
    seconds = values.as_unit("s").asi8.copy()
    seconds[values.isna()] = MISSING
    return seconds


def datetime_seconds(value: datetime | None) -> int:
    """UTC unix seconds of one datetime, floored exactly (naive is UTC); None gives -1."""
    if value is None:
        return MISSING
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _SECOND


def utc(value: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """A timestamp in UTC (naive taken as UTC), floored to the second."""
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).floor("s")


def in_range(seconds: int) -> bool:
    return EARLIEST_S <= seconds < LATEST_S


def not_iso_message(text) -> str:
    return f"{text!r} is not an ISO 8601 date-time (e.g. {EXAMPLE}; no offset: UTC)"


def out_of_range_message(text) -> str:
    return f"{text!r} is outside the supported range {EARLIEST.year}-01-01 .. {LATEST.year - 1}-12-31"


def _stdlib(text: str) -> int | None:
    try:
        return datetime_seconds(datetime.fromisoformat(text))
    except ValueError:
        return None


def parse_instants(texts: Sequence[str], field: Callable[[int], str] | None = None) -> np.ndarray:
    """UTC seconds of ISO 8601 texts. A text that does not match `ISO_INSTANT`, is not a real date-time
    (month 13, 30 February) or lies outside the supported range is a 422 naming its field
    (`field(i)`, default `[i]`); every bad text is reported at once."""
    n = len(texts)
    if n < _FEW:
        shaped = np.fromiter((_ISO.fullmatch(t) is not None for t in texts), bool, n)
        out = np.array(
            [
                s if ok and (s := _stdlib(t)) is not None else MISSING
                for t, ok in zip(texts, shaped, strict=True)
            ],
            dtype=np.int64,
        )
    else:
        shaped = pc.match_substring_regex(pa.array(texts, type=pa.string()), ISO_INSTANT)
        shaped = shaped.to_numpy(zero_copy_only=False)
        out = np.full(n, MISSING, dtype=np.int64)
        valid = list(texts) if shaped.all() else [t for t, ok in zip(texts, shaped, strict=True) if ok]
        out[shaped] = to_seconds(pd.to_datetime(valid, utc=True, format="ISO8601", errors="coerce"))
        for i in np.flatnonzero(shaped & (out == MISSING)):  # beyond pandas' nanoseconds: the stdlib decides
            out[i] = MISSING if (s := _stdlib(texts[i])) is None else s
    bad = np.flatnonzero((out < EARLIEST_S) | (out >= LATEST_S))
    if len(bad):
        name = field or (lambda i: f"[{i}]")
        details = []
        for i in bad.tolist():
            text = texts[i]
            message = (
                not_iso_message(text)
                if not shaped[i]
                else f"{text!r} is not a real date-time (ISO 8601, e.g. {EXAMPLE})"
                if out[i] == MISSING
                else out_of_range_message(text)
            )
            details.append({"field": name(i), "message": message})
        raise InvalidInput(f"{len(details)} invalid time(s)", details)
    return out


def check_datetimes(values: Sequence[tuple[str, datetime | None]]) -> list[dict]:
    """Problems with already-parsed datetimes (field, value) outside the supported range."""
    problems = []
    for name, value in values:
        if value is not None and not in_range(datetime_seconds(value)):
            problems.append({"field": name, "message": out_of_range_message(value.isoformat())})
    return problems
