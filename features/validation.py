"""Row and relation rules for the canonical CRM entities.

Everything here is vectorised and pure: frames in, typed frames and a list of `Problem` out.
Row numbers are spreadsheet rows: the header is row 1, so the first record is row 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from funnelcast.core.config import FunnelConfig
from funnelcast.core.times import EARLIEST, LATEST
from funnelcast.features.arrays import is_member
from funnelcast.features.schema import Column, Entity

TIMESTAMP_DTYPE = "datetime64[ns, UTC]"


@dataclass(frozen=True)
class Problem:
    """One broken rule in one place. `row` is None for file-level problems."""

    file: str
    row: int | None
    column: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        col = f", column {self.column}" if self.column else ""
        return f"{where}{col}: {self.message} [{self.rule}]"


def _problems(
    file: str, rows: pd.Index, column: str | None, rule: str, messages: list[str] | str
) -> list[Problem]:
    if isinstance(messages, str):
        messages = [messages] * len(rows)
    return [Problem(file, int(r), column, rule, m) for r, m in zip(rows, messages, strict=True)]


def _clean_text(series: pd.Series) -> pd.Series:
    text = series.astype("str") if not pd.api.types.is_string_dtype(series) else series
    text = text.str.strip()
    return text.where(text != "")


def _coerce_timestamp(raw: pd.Series) -> pd.Series:
    """Parse to UTC; naive values are taken as UTC, aware ones are converted."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        return raw.dt.tz_localize("UTC")
    text = _clean_text(raw)
    return pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")


def coerce_column(raw: pd.Series, col: Column, file: str) -> tuple[pd.Series, list[Problem]]:
    """Convert one raw column to its canonical type; report every value that breaks a rule."""
    problems: list[Problem] = []
    textual = pd.api.types.is_string_dtype(raw) or raw.dtype == object
    text = _clean_text(raw) if textual else None  # cleaned once, reused below
    present = text.notna() if textual else raw.notna()
    if col.kind == "number":
        values = raw if not textual else pd.to_numeric(text, errors="coerce")
        values = values.astype("float64")
        bad = present & values.isna()
        problems += _problems(
            file, raw.index[bad], col.name, "number", [f"not a number: {v!r}" for v in raw[bad]]
        )
        inf = np.isinf(values)
        problems += _problems(file, raw.index[inf], col.name, "finite", "infinite value")
        values = values.where(~inf)
        if col.min_value is not None:
            low = values < col.min_value
            rule = "non_negative" if col.min_value == 0 else "minimum"
            problems += _problems(
                file,
                raw.index[low],
                col.name,
                rule,
                [f"must be >= {col.min_value:g}, got {v:g}" for v in values[low]],
            )
    elif col.kind == "timestamp":
        values = (
            _coerce_timestamp(raw)
            if not textual
            else pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        )
        bad = present & values.isna()
        problems += _problems(
            file,
            raw.index[bad],
            col.name,
            "timestamp",
            [f"unparseable timestamp {v!r} (expected ISO 8601)" for v in raw[bad]],
        )
        impossible = values.notna() & ((values < EARLIEST) | (values >= LATEST))
        problems += _problems(
            file,
            raw.index[impossible],
            col.name,
            "timestamp_range",
            [
                f"impossible timestamp {v} (allowed {EARLIEST.year}..{LATEST.year - 1})"
                for v in values[impossible]
            ],
        )
        # stored to the second: point-in-time queries compare whole seconds (docs/data-model.md)
        values = values.where(~impossible).astype(TIMESTAMP_DTYPE).dt.floor("s")
    else:
        values = text if textual else _clean_text(raw)
        if col.choices is not None:
            unknown = pd.Series(
                values.notna().to_numpy() & ~is_member(values, list(col.choices)), index=values.index
            )
            problems += _problems(
                file,
                raw.index[unknown],
                col.name,
                "vocabulary",
                [f"{v!r} is not one of {list(col.choices)}" for v in values[unknown]],
            )
    if col.required:
        # a present but unparseable value is already reported as such, not as missing
        problems += _problems(file, raw.index[~present], col.name, "required", "missing value")
    return values, problems


def coerce_frame(raw: pd.DataFrame, entity: Entity, file: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Type every canonical column of one entity file and check row-level rules.

    Missing required columns are file-level problems; missing optional columns become empty.
    Columns outside the schema are kept as they are (custom attributes).
    """
    problems: list[Problem] = []
    out: dict[str, pd.Series] = {}
    for col in entity.columns:
        if col.name not in raw.columns:
            if col.required:
                problems.append(
                    Problem(
                        file,
                        None,
                        col.name,
                        "required_column",
                        f"required column is missing (columns found: {list(raw.columns)})",
                    )
                )
            out[col.name] = _empty(col, raw.index)
            continue
        out[col.name], col_problems = coerce_column(raw[col.name], col, file)
        problems += col_problems
    extras = [c for c in raw.columns if c not in entity.column_names]
    frame = pd.DataFrame(out, index=raw.index)
    for c in extras:
        frame[c] = raw[c]
    if entity.key and entity.key in raw.columns:
        problems += _duplicate_keys(frame[entity.key], file, entity.key)
    return frame, problems


def empty_frame(entity: Entity) -> pd.DataFrame:
    """A typed frame with the entity's columns and no rows (a copy of one built once per entity:
    building one costs a few milliseconds, and a single-deal request needs five)."""
    found = _EMPTY.get(entity.columns)
    if found is None:
        index = pd.RangeIndex(0)
        found = _EMPTY[entity.columns] = pd.DataFrame(
            {c.name: _empty(c, index) for c in entity.columns}, index=index
        )
    return found.copy()


_EMPTY: dict[tuple[Column, ...], pd.DataFrame] = {}


def _empty(col: Column, index: pd.Index) -> pd.Series:
    if col.kind == "number":
        return pd.Series(np.nan, index=index, dtype="float64")
    if col.kind == "timestamp":
        return pd.Series(pd.NaT, index=index, dtype=TIMESTAMP_DTYPE)
    return pd.Series(np.nan, index=index, dtype="str")


def _duplicate_keys(keys: pd.Series, file: str, column: str) -> list[Problem]:
    dup = keys.notna() & keys.duplicated(keep="first")
    if not dup.any():
        return []
    first_row = keys[keys.notna()].drop_duplicates(keep="first")
    first_at = pd.Series(first_row.index, index=first_row.values)
    return _problems(
        file,
        keys.index[dup],
        column,
        "unique",
        [f"duplicate {column} {k!r} (first at row {first_at[k]})" for k in keys[dup]],
    )


def unknown_reference(
    child: pd.Series, parents: pd.Index | pd.Series, file: str, column: str, parent_label: str
) -> tuple[list[Problem], pd.Series]:
    """Flag non-missing references to ids absent from the parent entity."""
    bad = pd.Series(child.notna().to_numpy() & ~is_member(child, parents), index=child.index)
    return (
        _problems(
            file, child.index[bad], column, "reference", [f"unknown {parent_label} {v!r}" for v in child[bad]]
        ),
        bad,
    )


def not_before(
    later: pd.Series, earlier: pd.Series, file: str, column: str, what: str
) -> tuple[list[Problem], pd.Series]:
    """Flag rows where `later` is before `earlier` (both present)."""
    bad = later.notna() & earlier.notna() & (later < earlier)
    return (
        _problems(
            file,
            later.index[bad],
            column,
            "chronology",
            [f"{column} {a} is before {what} {b}" for a, b in zip(later[bad], earlier[bad], strict=True)],
        ),
        bad,
    )


def lookup(keys: pd.Series, table: pd.DataFrame, key: str, column: str) -> pd.Series:
    """`table[column]` for each of `keys` (first row per key wins; unknown keys give missing)."""
    values = table.drop_duplicates(key).set_index(key)[column]
    return pd.Series(values.reindex(keys.to_numpy()).to_numpy(), index=keys.index, dtype=table[column].dtype)


def check_stages(
    stages: pd.DataFrame, opportunities: pd.DataFrame, funnel: FunnelConfig, file: str
) -> tuple[list[Problem], pd.Series]:
    """Stage rows must name a stage of their deal's pipeline and not precede the deal's creation."""
    pipeline = lookup(stages["opportunity_id"], opportunities, "opportunity_id", "pipeline")
    created = lookup(stages["opportunity_id"], opportunities, "opportunity_id", "created_at")
    problems: list[Problem] = []
    bad = pd.Series(False, index=stages.index)
    valid_pairs = [f"{p.key}\x1f{s}" for p in funnel.pipelines for s in p.stage_keys]
    pair_ok = is_member(pipeline + "\x1f" + stages["stage"], valid_pairs)
    unknown = (
        pipeline.notna() & stages["stage"].notna() & is_member(pipeline, funnel.pipeline_keys) & ~pair_ok
    )
    if unknown.any():
        keys = {p.key: p.stage_keys for p in funnel.pipelines}
        problems += _problems(
            file,
            stages.index[unknown],
            "stage",
            "stage",
            [
                f"stage {s!r} is not in pipeline {p!r} (stages: {keys[p]})"
                for s, p in zip(stages["stage"][unknown], pipeline[unknown], strict=True)
            ],
        )
    bad |= unknown
    early, early_mask = not_before(
        stages["entered_at"], created, file, "entered_at", "the opportunity's created_at"
    )
    return problems + early, bad | early_mask
