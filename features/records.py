"""Canonical frames from in-memory records (an API request): the same typing and per-field rules as
files, without cross-file reference checks (a request carries only what one score needs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from funnelcast.features.errors import DataValidationError
from funnelcast.features.io import CRMData
from funnelcast.features.schema import CUSTOM_PREFIX, ENTITIES
from funnelcast.features.validation import Problem, coerce_frame, empty_frame


def frames_from_records(records: Mapping[str, Iterable[Mapping]], *, source: str = "request") -> CRMData:
    """Typed CRMData from lists of dicts keyed by entity name (missing entities are empty).

    Problems are reported as `<source>.<entity>[i]` with the field name, all at once.

    Examples
    --------
    >>> lead = {"lead_id": "L1", "created_at": "2024-05-01", "source": "web"}
    >>> data = frames_from_records({"leads": [lead]})
    >>> data.leads.loc[0, "created_at"]
    Timestamp('2024-05-01 00:00:00+0000', tz='UTC')
    """
    unknown = sorted(set(records) - set(ENTITIES))
    if unknown:
        raise ValueError(f"unknown entities {unknown}; expected some of {sorted(ENTITIES)}")
    frames: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    for name, entity in ENTITIES.items():
        rows = list(records.get(name, []))
        if not rows:  # nothing to check: the typed empty frame
            frames[name] = empty_frame(entity)
            continue
        raw = pd.DataFrame.from_records(rows)
        raw.index = pd.RangeIndex(0, len(raw))
        typed, found = coerce_frame(raw, entity, f"{source}.{name}")
        problems += found
        frames[name] = typed.reset_index(drop=True)
    if problems:
        raise DataValidationError(problems)
    return CRMData(**frames)


def frames_from_validated(records: Mapping[str, Iterable[Mapping]]) -> CRMData:
    """Typed CRMData from records whose values are already typed and checked (the API's pydantic
    models: datetimes, floats, vocabularies, non-negative amounts). Same frames as
    `frames_from_records`, without re-parsing text; timestamps are still normalised to UTC seconds."""
    frames: dict[str, pd.DataFrame] = {}
    for name, entity in ENTITIES.items():
        rows = list(records.get(name, []))
        if not rows:
            frames[name] = empty_frame(entity)
            continue
        columns = {}
        for col in entity.columns:
            values = [row.get(col.name) for row in rows]
            if col.kind == "timestamp":
                stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
                columns[col.name] = stamps.astype("datetime64[ns, UTC]").dt.floor("s")
            elif col.kind == "number":
                columns[col.name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
            else:
                columns[col.name] = pd.Series(values, dtype="str")
        frame = pd.DataFrame(columns)
        kinds = {
            d["name"]: d["kind"] for d in records.get("custom_attributes", []) if d.get("entity") == name
        }
        for attr, kind in kinds.items():  # declared custom attributes, typed as declared
            values = [row.get(CUSTOM_PREFIX + attr) for row in rows]
            if kind == "number":
                frame[CUSTOM_PREFIX + attr] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
            else:
                frame[CUSTOM_PREFIX + attr] = pd.Series(
                    [None if v is None else str(v) for v in values], dtype="str"
                )
        frames[name] = frame
    return CRMData(**frames)
