"""ISO 8601 times from requests to UTC unix seconds, floored as the data loader floors them; without
an offset a time is UTC. Texts are checked here against ISO_INSTANT (the pattern the request schema
documents) and converted: small lists one by one through the standard library, large ones
vectorised (numpy, or pandas' ISO parser for mixed shapes); tests hold the paths to the same answers.
Activities arrive by the tens of thousands in a batch; a pattern check or a datetime object per
activity would cost more than the rest of scoring (benchmarks/serving.py)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter

import numpy as np
import pandas as pd

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
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return math.floor(value.timestamp())


def _well_formed(texts: Sequence[str], chars: np.ndarray) -> np.ndarray:
    """Per text, whether it matches ISO_INSTANT; `chars` are the texts' code points, one row each
    (zero-padded)."""
    digit = (chars >= 48) & (chars <= 57)
    # non-ASCII becomes 127 (in no shape); rows of bytes, compared as fixed-width byte strings
    shape = np.where(digit, ord("d"), np.minimum(chars, 127)).astype(np.uint8)
    rows = shape.view(f"S{max(shape.shape[1], 1)}").ravel()
    if (rows == rows[0]).all():  # the usual case, one export format: one match
        return np.full(len(rows), _SHAPE.fullmatch(rows[0].decode("ascii")) is not None)
    shapes, which = np.unique(rows, return_inverse=True)
    return np.array([_SHAPE.fullmatch(s.decode("ascii")) is not None for s in shapes.tolist()])[which.ravel()]


def _bulk(texts: Sequence[str], chars: np.ndarray | None = None) -> np.ndarray:
    """Seconds of well-formed texts, or INVALID where one is not a real date-time (e.g. 2025-02-30)."""
    if chars is not None and len(chars) and chars.shape[1] > 1 and (chars[:, -1] == ord("Z")).all():
        # the usual export shape, one width and "Z": numpy parses the texts without their "Z" (a copy
        # of the code points minus the last column) three times faster than pandas
        try:
            plain = np.ascontiguousarray(chars[:, :-1]).view(f"<U{chars.shape[1] - 1}").ravel()
            return plain.astype("datetime64[ns]").astype("datetime64[s]").astype(np.int64)  # floors, like the loader
        except ValueError:
            pass  # an impossible date somewhere: pandas says which
    parsed = pd.to_datetime(pd.Series(list(texts), dtype=object), utc=True, format="ISO8601", errors="coerce")
    out = parsed.to_numpy(dtype="datetime64[ns]").astype("datetime64[s]").astype(np.int64)
    out[parsed.isna().to_numpy()] = INVALID
    return out


def to_seconds(texts: Sequence[str], field: Callable[[int], str] | None = None) -> np.ndarray:
    """UTC seconds of each text. A text that is not ISO 8601 (ISO_INSTANT), or not a real date-time
    (month 13, 30 February), is a 422 naming its field (`field(i)`); all of them are reported at once."""
    n = len(texts)
    if n >= VECTOR_MIN and "\x00" not in "".join(texts):
        # (numpy would take a trailing NUL for padding, so texts with one go one by one)
        chars = np.array(texts, dtype=str)
        chars = chars.view(np.uint32).reshape(n, chars.dtype.itemsize // 4)
        well = _well_formed(texts, chars)
        if well.all():
            out = _bulk(texts, chars)
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
