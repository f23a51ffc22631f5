"""Array kernels the feature functions share: id lookups (pyarrow; pandas' string `isin` falls back
to Python per element), mapping category values through small tables, and missing text.

A text column is an object array of `str`, with `None` where the value is missing."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_FEW = 64  # below this many values a Python comprehension beats hashing the array


def _arrow(values) -> pa.Array:
    if isinstance(values, pd.Index):
        values = values.to_series()
    if isinstance(values, pd.Series):
        if pd.api.types.is_string_dtype(values) or values.dtype == object:
            return pa.array(values.astype("str"), type=pa.string(), from_pandas=True)
        return pa.array(values, from_pandas=True)
    return pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True)


def is_member(values, pool) -> np.ndarray:
    """True where a value occurs in `pool` (missing is never a member)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    found = pc.is_in(_arrow(values), value_set=pc.unique(_arrow(pool)), skip_nulls=True)
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def positions(values, universe) -> np.ndarray:
    """Index of each value in `universe` (first occurrence), -1 when absent or missing."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    found = pc.index_in(_arrow(values), value_set=_arrow(universe), skip_nulls=True)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def text(values) -> np.ndarray:
    """Any column of text (a Series, list or array) as an object array of str, None where missing."""
    out = np.asarray(values, dtype=object)
    if out.ndim == 0:
        out = out.reshape(1)
    missing = pd.isna(out)
    if missing.any():
        out = out.copy()
        out[missing] = None
    return out


def lookup(values: np.ndarray, table: Mapping, default=np.nan, dtype=np.float64) -> np.ndarray:
    """`table[value]` for each value of a text column (`default` for missing or unknown values): one
    table lookup per distinct value."""
    n = len(values)
    if n < _FEW:
        return np.array([default if v is None else table.get(v, default) for v in values], dtype=dtype)
    codes, uniques = pd.factorize(values)
    mapped = np.array([table.get(v, default) for v in uniques] + [default], dtype=dtype)
    return mapped[codes]  # code -1 (missing) takes the last entry


def apply_distinct(values: np.ndarray, fn, dtype=np.float64, default=np.nan) -> np.ndarray:
    """`fn(value)` for each value of a text column, computed once per distinct value; `default` for
    missing values."""
    n = len(values)
    if n < _FEW:
        cache: dict = {}
        return np.array(
            [
                default if v is None else cache[v] if v in cache else cache.setdefault(v, fn(v))
                for v in values
            ],
            dtype=dtype,
        )
    codes, uniques = pd.factorize(values)
    mapped = np.array([fn(v) for v in uniques] + [default], dtype=dtype)
    return mapped[codes]


def upper(values: np.ndarray) -> np.ndarray:
    """Upper-case text (None stays None), once per distinct value."""
    return apply_distinct(values, str.upper, dtype=object, default=None)


def join(*columns: np.ndarray, sep: str = "\x1f") -> np.ndarray:
    """Text keys joining several text columns (None where any part is missing)."""
    n = len(columns[0])
    out = np.empty(n, dtype=object)
    for i in range(n) if n < _FEW else ():
        parts = [c[i] for c in columns]
        out[i] = None if any(p is None for p in parts) else sep.join(parts)
    if n >= _FEW:
        frame = pd.Series(columns[0], dtype=object)
        for c in columns[1:]:
            frame = frame + sep + pd.Series(c, dtype=object)
        out = text(frame.to_numpy(dtype=object))
    return out
