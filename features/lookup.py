"""Fast membership and position lookups for id columns (pyarrow kernels; pandas' string `isin`
falls back to Python per element)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


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
