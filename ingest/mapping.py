"""A declarative mapping from CRM export files (CSV or Excel) to the canonical data model.

A mapping (YAML) names its source files, and per canonical entity which source feeds it and how
each canonical column is made: a source column (with a value map, sentinel values that mean
"missing", a default and a date format), a constant, another column of the same output row
(optionally shifted by days), a lookup in another source, or a time built from a row order for
data without dates. Conditions (`when`) make a value, or a whole stage row, apply only to some
source rows. Extra source columns are carried as typed custom attributes; columns known to be
filled in after the outcome are declared `leaky` and never become features by default.

Everything that can be checked without the data is checked when the mapping is loaded; column
names are checked against the files' headers before any row is read.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from funnelcast.core.errors import FunnelcastError
from funnelcast.features.schema import CUSTOM_ENTITIES, ENTITIES


class MappingError(FunnelcastError):
    """The mapping itself is wrong (before any data row is read)."""

    exit_code = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Scalar = str | float | int | bool | None


class Condition(_Strict):
    """True for a source row whose `column` value (as text) is one of `in_`."""

    column: str
    in_: list[str] = Field(alias="in", min_length=1)


class Lookup(_Strict):
    """The value of `column` in the row of `source` whose `key` equals this row's `by` column."""

    source: str
    key: str
    by: str = Field(description="This source's column whose value is looked up")
    by_map: dict[str, str] = Field(
        default_factory=dict, description="Fix this source's values before the lookup"
    )
    column: str


class RowOrderTime(_Strict):
    """A timestamp made from the row order: start + rank x step, the rank taken from a numeric column, or
    from the row number with `row_number: true` (data without dates whose ids or rows rise with time; the
    result orders rows, it is not a real date)."""

    start: datetime
    step_seconds: float = Field(gt=0)


class FieldSpec(_Strict):
    column: str | None = Field(None, description="Source column")
    value: Scalar = Field(None, description="A constant")
    field: str | None = Field(None, description="Another canonical column of the same output row")
    lookup: Lookup | None = None
    row_number: bool = Field(
        False,
        description="The source row's number (the spreadsheet row, header = 1), with `prefix`: an id for "
        "files without one, or the order for `row_order_time`",
    )
    prefix: str = Field("", description="Put before a row number made into an id")
    row_order_time: RowOrderTime | None = Field(
        None, description="With `column` or `row_number`: a time from the row order"
    )
    map: dict[str, Scalar] = Field(default_factory=dict, description="Source value -> canonical value")
    missing: list[str] = Field(default_factory=list, description="Values that mean 'no value' (e.g. Select)")
    default: Scalar = Field(None, description="Used when the value is missing")
    format: str | None = Field(None, description="strptime format of a date column")
    plus_days: float | None = Field(
        None, description="Shift a timestamp by this many days (row_order_time too)"
    )
    when: Condition | None = Field(None, description="Only for source rows matching this; missing otherwise")
    fallback: FieldSpec | None = Field(None, description="Where this gives no value, use that one")

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        origins = [n for n in ("column", "field", "lookup") if getattr(self, n) is not None]
        if self.value is not None:
            origins.append("value")
        if self.row_number:
            origins.append("row_number")
        if len(origins) != 1:
            raise ValueError(
                f"give exactly one of column, value, field, lookup or row_number (got {origins or 'none'})"
            )
        if self.row_order_time is not None and self.column is None and not self.row_number:
            raise ValueError("row_order_time needs the column whose order it uses, or row_number: true")
        if self.prefix and not self.row_number:
            raise ValueError("prefix goes with row_number: true")
        return self


FieldSpec.model_rebuild()


def _field_columns(field: FieldSpec) -> set[str]:
    cols = {c for c in (field.column, field.when.column if field.when else None) if c}
    if field.lookup:
        cols.add(field.lookup.by)
    if field.fallback:
        cols |= _field_columns(field.fallback)
    return cols


class CustomSpec(_Strict):
    column: str
    name: str = Field(pattern=r"^[A-Za-z0-9_]+$", description="Attribute name: custom.<name> in the output")
    kind: Literal["category", "number"]
    leaky: bool = Field(False, description="Filled in after the outcome: never a feature by default")
    meaning: str | None = None
    map: dict[str, Scalar] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)


class RowTemplate(_Strict):
    """One output row per matching source row (used for stage rows made from a status and dates)."""

    when: Condition | None = None
    fields: dict[str, FieldSpec]


class EntitySpec(_Strict):
    source: str
    filter: Condition | None = Field(None, description="Only source rows matching this")
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    rows: list[RowTemplate] = Field(default_factory=list, description="Instead of fields: several rows each")
    custom: list[CustomSpec] = Field(default_factory=list)
    extra_rows: list[dict[str, Scalar]] = Field(default_factory=list, description="Constant rows to add")
    deduplicate: bool = Field(
        False,
        description="Rows with the same key collapse into the first (an entity "
        "derived from a denormalised export, e.g. accounts from deal rows)",
    )

    @model_validator(mode="after")
    def _fields_or_rows(self) -> EntitySpec:
        if bool(self.fields) == bool(self.rows):
            raise ValueError(
                "give either fields (one row per source row) or rows (templates), not both or neither"
            )
        return self


class SourceSpec(_Strict):
    file: str = Field(description="File name (matched against the files given on the command line)")
    sheet: str | int | None = Field(None, description="Excel sheet")
    encoding: str = "utf-8-sig"
    delimiter: str = ","


class EvaluationSpec(_Strict):
    """How `make bench-quality` evaluates this data set (training.yaml / leads.yaml overrides)."""

    dataset: str = Field(description="Folder under ../shared/datasets holding the source files")
    model: Literal["lead", "opportunity"]
    splits: list[Literal["time", "stratified", "order"]] = ["time"]
    lead_age_sample_rate: float | None = Field(None, ge=0, le=1, description="0: creation snapshots only")
    horizon_days: int | None = None
    backtest: Literal["month", "quarter"] | None = None
    notes: str | None = None


class Mapping(_Strict):
    name: str
    description: str = ""
    missing_values: list[str] = Field(default_factory=lambda: [""], description="Sentinels for every column")
    sources: dict[str, SourceSpec]
    entities: dict[str, EntitySpec]
    evaluation: EvaluationSpec | None = None

    @model_validator(mode="after")
    def _check(self) -> Mapping:
        problems = []
        for name, spec in self.entities.items():
            if name not in ENTITIES or name == "custom_attributes":
                problems.append(
                    f"entities.{name}: unknown target entity (known: "
                    f"{[e for e in ENTITIES if e != 'custom_attributes']})"
                )
                continue
            entity = ENTITIES[name]
            if spec.source not in self.sources:
                problems.append(
                    f"entities.{name}.source: unknown source {spec.source!r} (sources: {list(self.sources)})"
                )
            templates = [spec.fields] if spec.fields else [t.fields for t in spec.rows]
            for i, fields in enumerate(templates):
                where = f"entities.{name}" + (f".rows.{i}" if spec.rows else "") + ".fields"
                for target, field in fields.items():
                    if target not in entity.column_names:
                        problems.append(
                            f"{where}.{target}: unknown target field (fields of {name}: "
                            f"{entity.column_names})"
                        )
                    if field.field is not None and field.field not in fields:
                        problems.append(
                            f"{where}.{target}.field: {field.field!r} is not mapped in the same row"
                        )
                    if field.lookup is not None and field.lookup.source not in self.sources:
                        problems.append(
                            f"{where}.{target}.lookup.source: unknown source {field.lookup.source!r}"
                        )
                missing = [c for c in entity.required_columns if c not in fields]
                if missing:
                    problems.append(f"{where}: required fields not mapped: {missing}")
            if spec.custom and name not in CUSTOM_ENTITIES:
                problems.append(f"entities.{name}.custom: custom attributes are for {list(CUSTOM_ENTITIES)}")
            names = [c.name for c in spec.custom]
            if len(set(names)) != len(names):
                problems.append(
                    f"entities.{name}.custom: attribute names repeat: "
                    f"{sorted({n for n in names if names.count(n) > 1})}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def columns_used(self) -> dict[str, set[str]]:
        """Source -> the columns this mapping reads from it (checked against the headers)."""
        used: dict[str, set[str]] = {s: set() for s in self.sources}
        for spec in self.entities.values():
            templates = [(spec.fields, None)] if spec.fields else [(t.fields, t.when) for t in spec.rows]
            for cond in (spec.filter,):
                if cond:
                    used[spec.source].add(cond.column)
            for fields, when in templates:
                if when:
                    used[spec.source].add(when.column)
                for field in fields.values():
                    used[spec.source] |= _field_columns(field)
                    f = field
                    while f is not None:
                        if f.lookup:
                            used[f.lookup.source] |= {f.lookup.key, f.lookup.column}
                        f = f.fallback
            used[spec.source] |= {c.column for c in spec.custom}
        return used


def load_mapping(path: Path) -> Mapping:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from None
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {loc or '(top)'}: {err['msg'].removeprefix('Value error, ')}")
        raise MappingError(f"{path}: invalid mapping:\n" + "\n".join(lines)) from None
