"""Point-in-time range queries over timestamped rows, vectorised for many (group, as_of) pairs.

A group is an entity, or an (entity, activity type) pair coded as one integer. Rows are sorted by a
composite key `(group code << 32) | unix seconds`, so "rows of group g with as_of - window < t <=
as_of" is a pair of `searchsorted` calls for all queries at once. Sums use per-group prefix sums,
so a result depends only on that group's rows at or before `as_of`: rows of other groups, rows
after `as_of` and input order cannot change it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.core.times import SECONDS_PER_DAY
from funnelcast.features.arrays import positions

__all__ = ["SECONDS_PER_DAY", "EventIndex", "entity_codes"]
_SHIFT = np.int64(32)


def entity_codes(ids: pd.Series | np.ndarray, universe: pd.Index) -> np.ndarray:
    """Position of each id in `universe` (-1 when unknown)."""
    return positions(ids, universe)


_EXACT = 2.0**53  # integers up to this are exact in float64, whatever the order of the additions


def _local_running_sums(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sums of values sorted by group that restart at each group: exact, and independent of
    other groups. Whole numbers (counts, flags, seconds) sum exactly in any order, so one running sum
    over everything minus each group's start serves; other values are summed group by group."""
    if not len(values) or codes[0] == codes[-1]:  # one group (a single request): a plain running sum
        return np.cumsum(values)
    if np.all(values == np.floor(values)) and np.abs(values).sum() < _EXACT:
        total = np.concatenate([[0.0], np.cumsum(values)])
        starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1])
        lengths = np.diff(np.concatenate([starts, [len(values)]]))
        return total[1:] - np.repeat(total[starts], lengths)
    return pd.Series(values).groupby(codes).cumsum().to_numpy()


class EventIndex:
    """Rows of one kind (e.g. one activity type) indexed for as-of range queries.

    Parameters
    ----------
    codes : group code of each row (e.g. from `entity_codes`); rows with code -1 are ignored.
    seconds : unix seconds of each row; rows with -1 (missing time) are ignored.
    values : optional numbers to sum (missing counts as 0).

    Examples
    --------
    >>> idx = EventIndex(np.array([0, 0, 1]), np.array([10, 20, 15]))
    >>> idx.count(np.array([0, 1]), np.array([20, 14])).tolist()
    [2, 0]
    """

    def __init__(self, codes: np.ndarray, seconds: np.ndarray, values: np.ndarray | None = None):
        keep = (codes >= 0) & (seconds >= 0)
        codes, seconds = codes[keep], seconds[keep]
        vals = np.zeros(len(codes)) if values is None else np.nan_to_num(np.asarray(values, float)[keep])
        keys = (codes << _SHIFT) | seconds
        # a total order, so input order never matters: by key (entity, then time, in one int64), then
        # value; without values rows that tie are alike and one stable sort of the keys suffices
        # (sorting one array is several times faster than lexsorting three)
        order = np.argsort(keys, kind="stable") if values is None else np.lexsort((vals, keys))
        self.codes = codes[order]
        self.seconds = seconds[order]
        self.keys = keys[order]
        self.values = vals[order]
        self._local_cum = _local_running_sums(self.codes, self.values) if values is not None else self.values

    def __len__(self) -> int:
        return len(self.keys)

    def _bounds(self, q_codes: np.ndarray, q_seconds: np.ndarray, window_s: float | None):
        """Positions [lo, hi) of the entity's rows with as_of - window < t <= as_of, and its block start."""
        block = np.searchsorted(self.keys, q_codes << _SHIFT, side="left")
        hi = np.searchsorted(self.keys, (q_codes << _SHIFT) | q_seconds, side="right")
        if window_s is None:
            return block, hi, block
        first = np.maximum(q_seconds - np.int64(window_s) + 1, 0)
        lo = np.searchsorted(self.keys, (q_codes << _SHIFT) | first, side="left")
        return lo, hi, block

    def count(self, q_codes: np.ndarray, q_seconds: np.ndarray, window_s: float | None = None) -> np.ndarray:
        """Rows with as_of - window < t <= as_of (all rows up to as_of without a window)."""
        lo, hi, _ = self._bounds(q_codes, q_seconds, window_s)
        return (hi - lo).astype(np.float64)

    def total(self, q_codes: np.ndarray, q_seconds: np.ndarray, window_s: float | None = None) -> np.ndarray:
        """Sum of values over the same range as `count` (0 when there are none)."""
        lo, hi, block = self._bounds(q_codes, q_seconds, window_s)
        return self._running(hi, block) - self._running(lo, block)

    def _running(self, pos: np.ndarray, block: np.ndarray) -> np.ndarray:
        """Sum of the entity's values in [block, pos)."""
        inside = pos > block
        out = np.zeros(len(pos))
        out[inside] = self._local_cum[pos[inside] - 1]
        return out

    def last_seconds(self, q_codes: np.ndarray, q_seconds: np.ndarray) -> np.ndarray:
        """Time of the latest row at or before as_of (-1 when there is none)."""
        lo, hi, _ = self._bounds(q_codes, q_seconds, None)
        if not len(self.seconds):
            return np.full(len(q_codes), -1, dtype=np.int64)
        return np.where(hi > lo, self.seconds[np.maximum(hi - 1, 0)], -1)

    def first_seconds(self, q_codes: np.ndarray, q_seconds: np.ndarray) -> np.ndarray:
        """Time of the entity's earliest row if it is at or before as_of (-1 otherwise)."""
        lo, hi, _ = self._bounds(q_codes, q_seconds, None)
        if not len(self.seconds):
            return np.full(len(q_codes), -1, dtype=np.int64)
        return np.where(hi > lo, self.seconds[np.minimum(lo, len(self.seconds) - 1)], -1)

    def last_index(self, q_codes: np.ndarray, q_seconds: np.ndarray) -> np.ndarray:
        """Sorted position of the latest row at or before as_of (-1 when there is none)."""
        lo, hi, _ = self._bounds(q_codes, q_seconds, None)
        return np.where(hi > lo, hi - 1, -1)

    def starts(
        self, q_codes: np.ndarray, q_seconds: np.ndarray, windows_s
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """For queries asked over several windows at once: the group's first position, the end
        position (rows up to as_of) and, per window, the start position (rows after as_of - window)."""
        block = np.searchsorted(self.keys, q_codes << _SHIFT, side="left")
        hi = np.searchsorted(self.keys, (q_codes << _SHIFT) | q_seconds, side="right")
        starts = [
            np.searchsorted(
                self.keys, (q_codes << _SHIFT) | np.maximum(q_seconds - np.int64(w) + 1, 0), side="left"
            )
            for w in windows_s
        ]
        return block, hi, starts

    def decayed_total(
        self,
        q_codes: np.ndarray,
        q_seconds: np.ndarray,
        window_s: float,
        half_life_s: float,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Sum of value * 2^(-(as_of - t) / half_life) over rows in the window (`weights`, one per
        row in this index's sorted order, instead of the values when given).

        Expands (query, row) pairs inside each window, so it is exact and cannot overflow; the
        window bounds the work (and the weight of what it leaves out).
        """
        lo, hi, _ = self._bounds(q_codes, q_seconds, window_s)
        n = hi - lo
        if n.sum() == 0:
            return np.zeros(len(q_codes))
        query = np.repeat(np.arange(len(q_codes)), n)
        offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        rows = np.repeat(lo, n) + offsets
        age = (q_seconds[query] - self.seconds[rows]).astype(float)
        contrib = (self.values if weights is None else weights)[rows] * np.exp2(-age / half_life_s)
        return np.bincount(query, weights=contrib, minlength=len(q_codes))
