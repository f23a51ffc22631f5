"""Canonical frames from in-memory records (an API request): the same typing and per-field rules as
files, without cross-file reference checks (a request carries only what one score needs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from features.errors import DataValidationError
from features.io import CRMData
from features.schema import ENTITIES
from features.validation import Problem, coerce_frame, empty_frame


def frames_from_records(records: Mapping[str, Iterable[Mapping]], *, source: str = "request") -> CRMData:
    """Typed CRMData from lists of dicts keyed by entity name (missing entities are empty).

    Problems are reported as `<source>.<entity>[i]` with the field name, all at once.

    Examples
    --------
    >>> data = frames_from_records({"leads": [{"lead_id": "L1", "created_at": "2024-05-01", "source": "web"}]})
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
