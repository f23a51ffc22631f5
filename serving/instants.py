"""ISO 8601 times from requests to UTC unix seconds, floored as the data loader floors them; without
an offset a time is UTC. Texts are checked here against ISO_INSTANT (the pattern the request schema
documents) and converted: small lists one by one through the standard library, large ones
vectorised (integer arithmetic on the digits when the texts share one shape, as an export's do;
pandas' ISO parser otherwise); tests hold the paths to the same answers.
Activities arrive by the tens of thousands in a batch; a pattern check or a datetime object per
activity would cost more than the rest of scoring (benchmarks/serving.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from operator import itemgetter

import numpy as np
import pandas as pd

from features.lead_row import seconds
from serving.errors import InvalidInput, not_iso_message
from serving.schemas import INSTANT_SHAPES

VECTOR_MIN = 256  # below this many values the per-value path is faster than setting up numpy

_ISO = re.compile(INSTANT_SHAPES.replace("D", "[0-9]"))  # ISO_INSTANT
# a text whose ASCII digits were all replaced by "d" matches this iff the text matches ISO_INSTANT, so
# a request's tens of thousands of times need only their few distinct shapes matched
_SHAPE = re.compile(INSTANT_SHAPES.replace("D", "d"))
INVALID = np.iinfo(np.int64).min


def _one(text: str) -> int | None:
    try:
        return seconds(datetime.fromisoformat(text))
    except ValueError:
        return None


def _shapes(chars: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Per text, whether it matches ISO_INSTANT, and the texts' one shape when they share one (the
    usual case: one export format). `chars` are the texts' code points, one row each, zero-padded."""
    digit = (chars >= 48) & (chars <= 57)
    # a letter "d" and anything non-ASCII become 127 (in no shape); rows of bytes, compared as
    # fixed-width byte strings
    other = (chars == ord("d")) | (chars > 127)
    shape = np.where(digit, ord("d"), np.where(other, 127, chars)).astype(np.uint8)
    rows = shape.view(f"S{max(shape.shape[1], 1)}").ravel()
    if (rows == rows[0]).all():
        first = rows[0].decode("ascii")
        ok = _SHAPE.fullmatch(first) is not None
        return np.full(len(rows), ok), first if ok else None
    shapes, which = np.unique(rows, return_inverse=True)
    return np.array([_SHAPE.fullmatch(s.decode("ascii")) is not None for s in shapes.tolist()])[which.ravel()], None


# the shape pattern with its parts named (tests hold it to _SHAPE)
_PARTS = re.compile(r"(?P<y>dddd)-(?P<mo>dd)-(?P<d>dd)(?:[T ](?P<h>dd):(?P<mi>dd)(?::(?P<s>dd)(?:\.d{1,9})?)?"
                    r"(?:Z|(?P<sign>[+-])(?P<oh>dd)(?::?(?P<om>dd))?)?)?")
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0])  # [13]: months 13-99


def _from_digits(chars: np.ndarray, shape: str) -> np.ndarray:
    """Seconds of texts that all have `shape` (ISO_INSTANT's, digits as "d"), by integer arithmetic on
    their digits: what `_one` gives, five times faster than numpy's parser; INVALID where a text is
    not a real date-time (month 13, 30 February, hour 24, an offset of a day)."""
    parts = _PARTS.fullmatch(shape)

    def number(name: str):
        start, end = parts.span(name)
        value = 0
        for k in range(max(start, 0), max(end, 0)):  # an absent part is 0
            value = value * 10 + (chars[:, k].astype(np.int64) - 48)
        return value

    year, month, day = number("y"), number("mo"), number("d")
    hour, minute, second, off_h, off_m = number("h"), number("mi"), number("s"), number("oh"), number("om")
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    ok = (year >= 1) & (month >= 1) & (day >= 1) & (day <= _MONTH_DAYS[np.minimum(month, 13)] + (leap & (month == 2)))
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59) & (off_h * 60 + off_m < 24 * 60)  # +10:60 is +11:00
    # days since 1970-01-01 (H. Hinnant's days_from_civil; the year starts in March)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + (153 * ((month + 9) % 12) + 2) // 5 + day - 1 - 719468
    offset = (off_h * 3600 + off_m * 60) * (-1 if parts.group("sign") == "-" else 1)
    # a fraction of a second only adds to a whole second: leaving it out floors, as the loader does
    return np.where(ok, days * 86_400 + hour * 3600 + minute * 60 + second - offset, INVALID)


def _bulk(texts: Sequence[str]) -> np.ndarray:
    """Seconds of well-formed texts of mixed shapes (pandas' ISO parser), or INVALID where one is not
    a real date-time (e.g. 2025-02-30). Texts pandas refuses go one by one: it refuses years its
    nanoseconds cannot hold, which are real dates to the other paths."""
    parsed = pd.to_datetime(pd.Series(list(texts), dtype=object), utc=True, format="ISO8601", errors="coerce")
    out = parsed.to_numpy(dtype="datetime64[ns]").astype("datetime64[s]").astype(np.int64)
    for i in np.flatnonzero(parsed.isna().to_numpy()):
        out[i] = INVALID if (s := _one(texts[i])) is None else s
    return out


def to_seconds(texts: Sequence[str], field: Callable[[int], str] | None = None) -> np.ndarray:
    """UTC seconds of each text. A text that is not ISO 8601 (ISO_INSTANT), or not a real date-time
    (month 13, 30 February), is a 422 naming its field (`field(i)`); all of them are reported at once."""
    n = len(texts)
    if n >= VECTOR_MIN and "\x00" not in "".join(texts):
        # (numpy would take a trailing NUL for padding, so texts with one go one by one)
        chars = np.array(texts, dtype=str)
        chars = chars.view(np.uint32).reshape(n, chars.dtype.itemsize // 4)
        well, shape = _shapes(chars)
        if shape is not None:
            out = _from_digits(chars, shape)
        elif well.all():
            out = _bulk(texts)
        else:
            out = np.full(n, INVALID, dtype=np.int64)
            out[well] = _bulk([texts[i] for i in np.flatnonzero(well)])
    else:
        well = np.fromiter((_ISO.fullmatch(t) is not None for t in texts), bool, n)
        out = np.array([s if ok and (s := _one(t)) is not None else INVALID
                        for t, ok in zip(texts, well, strict=True)], dtype=np.int64)
    bad = np.flatnonzero(out == INVALID)
    if len(bad):
        name = field or (lambda i: f"[{i}]")
        raise InvalidInput(f"{len(bad)} invalid field(s)", [
            {"field": name(int(i)), "message": not_iso_message(texts[i]) if not well[i] else
             f"{texts[i]!r} is not a real date-time (ISO 8601, e.g. 2025-05-20T09:30:00Z)"} for i in bad])
    return out


def activity_seconds(groups: Sequence[Sequence], path: str, occurred_at: Callable = itemgetter("occurred_at")
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of every activity of every group (flattened; `occurred_at(activity)` is its text) and
    each one's group position; a malformed or impossible time names its field (`path` is formatted
    with the group and activity positions)."""
    counts = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    owners = np.repeat(np.arange(len(groups)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(groups) else counts

    def field(k: int) -> str:
        return path.format(i=int(owners[k]), j=int(k - starts[owners[k]]))

    return to_seconds([occurred_at(a) for g in groups for a in g], field), owners
