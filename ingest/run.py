"""Run a mapping: read the source files, build canonical rows, validate them with the loader's own
rules, write the data directory and a report of every source row that could not be imported."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from funnelcast.core.config import FunnelConfig
from funnelcast.features.io import CRMData, validate_frames
from funnelcast.features.schema import CUSTOM_PREFIX, ENTITIES
from funnelcast.ingest.mapping import Condition, EntitySpec, FieldSpec, Mapping, MappingError

ISO = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class ImportReport:
    source_rows: dict[str, int] = field(default_factory=dict)  # source name -> rows read
    written: dict[str, int] = field(default_factory=dict)  # entity -> rows written
    problems: list[str] = field(default_factory=list)  # one line per row that was not imported (or changed)
    skipped: dict[str, int] = field(default_factory=dict)  # entity -> rows not imported

    def to_dict(self) -> dict:
        return {
            "source_rows": self.source_rows,
            "written": self.written,
            "skipped": self.skipped,
            "problems": self.problems,
        }


def resolve_sources(mapping: Mapping, files: list[Path]) -> dict[str, Path]:
    """Match the mapping's source file names to the files given; every source must be found."""
    by_name = {Path(f).name: Path(f) for f in files}
    found, missing = {}, []
    for name, spec in mapping.sources.items():
        if spec.file in by_name:
            found[name] = by_name[spec.file]
        else:
            missing.append(f"{name} ({spec.file})")
    if missing:
        raise MappingError(f"source files not given: {', '.join(missing)}; given: {sorted(by_name)}")
    not_files = [str(p) for p in found.values() if not p.is_file()]
    if not_files:
        raise MappingError(f"source files not found: {not_files}")
    return found


def _read(path: Path, spec, nrows: int | None = None) -> pd.DataFrame:
    if path.suffix.lower() in (".xlsx", ".xls"):
        frame = pd.read_excel(path, sheet_name=spec.sheet or 0, dtype=str, nrows=nrows, keep_default_na=False)
    else:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding=spec.encoding, sep=spec.delimiter, nrows=nrows
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def check_headers(mapping: Mapping, paths: dict[str, Path]) -> None:
    """Every column the mapping reads exists in its file (header only: no data row read yet)."""
    problems = []
    for source, columns in mapping.columns_used().items():
        header = set(_read(paths[source], mapping.sources[source], nrows=0).columns)
        unknown = sorted(columns - header)
        if unknown:
            problems.append(
                f"{paths[source].name}: unknown column(s) {unknown}; the file has {sorted(header)}"
            )
    if problems:
        raise MappingError("the mapping names columns the files do not have:\n  " + "\n  ".join(problems))


def _matches(frame: pd.DataFrame, cond: Condition | None) -> np.ndarray:
    if cond is None:
        return np.ones(len(frame), dtype=bool)
    return frame[cond.column].str.strip().isin(cond.in_).to_numpy()


class _Builder:
    def __init__(self, mapping: Mapping, sources: dict[str, pd.DataFrame], paths: dict[str, Path]):
        self.mapping, self.sources, self.paths = mapping, sources, paths
        self.problems: list[str] = []
        self._lookups: dict[tuple, dict] = {}

    def _text(self, frame: pd.DataFrame, column: str, spec) -> pd.Series:
        text = frame[column].astype(str).str.strip()
        missing = set(self.mapping.missing_values) | set(spec.missing)
        text = text.where(~text.isin(missing))
        if spec.map:
            mapped = text.map(lambda v: spec.map.get(v, v) if isinstance(v, str) else v)
            text = mapped.astype(object).where(mapped.notna(), None)
        return text

    def value(
        self, entity: str, target: str, spec: FieldSpec, frame: pd.DataFrame, row: dict, source: str
    ) -> pd.Series:
        kind = ENTITIES[entity].column(target).kind
        if spec.value is not None:
            out = pd.Series([spec.value] * len(frame), index=frame.index, dtype=object)
        elif spec.field is not None:
            out = row[spec.field].copy()
        elif spec.lookup is not None:
            lk = spec.lookup
            key = (lk.source, lk.key, lk.column)
            if key not in self._lookups:
                table = self.sources[lk.source]
                self._lookups[key] = dict(zip(table[lk.key].str.strip(), table[lk.column], strict=True))
            out = frame[lk.by].str.strip().map(lambda v: lk.by_map.get(v, v)).map(self._lookups[key])
            out = out.where(~out.isin(self.mapping.missing_values))
            if spec.map:
                out = out.map(lambda v: spec.map.get(v, v) if isinstance(v, str) else v)
        elif spec.row_order_time is not None:
            order = pd.to_numeric(frame[spec.column], errors="coerce").rank(method="first")
            out = pd.Series(
                pd.Timestamp(spec.row_order_time.start).tz_localize(None)
                + pd.to_timedelta((order - 1) * spec.row_order_time.step_seconds, unit="s"),
                index=frame.index,
            )
            out = out.dt.strftime(ISO).where(order.notna())
        else:
            out = self._text(frame, spec.column, spec)
        if spec.default is not None:
            out = out.where(out.notna(), spec.default)
        if kind == "timestamp" and spec.row_order_time is None:
            out = self._timestamp(out, spec, entity, target, source, frame)
        if spec.when is not None:
            out = out.where(_matches(frame, spec.when))
        if spec.fallback is not None:
            out = out.where(out.notna(), self.value(entity, target, spec.fallback, frame, row, source))
        return out.astype(object).where(out.notna(), None)

    def _timestamp(
        self, text: pd.Series, spec: FieldSpec, entity: str, target: str, source: str, frame: pd.DataFrame
    ) -> pd.Series:
        present = text.notna()
        parsed = pd.to_datetime(text.where(present), format=spec.format or "mixed", utc=True, errors="coerce")
        bad = present & parsed.isna()
        for idx in text.index[bad][:200]:
            self.problems.append(
                f"{self.paths[source].name} row {idx + 2}: {entity}.{target}: cannot read date "
                f"{text[idx]!r}" + (f" with format {spec.format!r}" if spec.format else "") + " [date_format]"
            )
        if spec.plus_days:
            parsed = parsed + pd.to_timedelta(spec.plus_days, unit="D")
        return parsed.dt.strftime(ISO).where(parsed.notna())

    def entity_rows(self, entity: str, spec: EntitySpec) -> pd.DataFrame:
        frame = self.sources[spec.source]
        frame = frame[_matches(frame, spec.filter)]
        templates = [(None, spec.fields)] if spec.fields else [(t.when, t.fields) for t in spec.rows]
        parts = []
        for when, fields in templates:
            part = frame[_matches(frame, when)]
            row: dict[str, pd.Series] = {}
            ordered = sorted(fields.items(), key=lambda kv: kv[1].field is not None)  # copies last
            for target, fspec in ordered:
                row[target] = self.value(entity, target, fspec, part, row, spec.source)
            for c in spec.custom:
                values = self._text(part, c.column, c)
                row[CUSTOM_PREFIX + c.name] = values
            out = pd.DataFrame(row, index=part.index)
            out["_origin"] = [f"{self.paths[spec.source].name} row {i + 2}" for i in part.index]
            parts.append(out)
        rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        key = ENTITIES[entity].key
        if spec.deduplicate and key and key in rows:
            rows = rows.drop_duplicates(key, keep="first").reset_index(drop=True)
        if spec.extra_rows:
            extra = pd.DataFrame(spec.extra_rows)
            extra["_origin"] = "the mapping's extra_rows"
            rows = pd.concat([rows, extra], ignore_index=True)
        return rows


def run_import(
    mapping: Mapping, files: list[Path], out: Path, funnel: FunnelConfig
) -> tuple[CRMData, ImportReport]:
    """Import, validate (lenient: rows breaking a rule are reported and left out) and write `out`."""
    paths = resolve_sources(mapping, files)
    check_headers(mapping, paths)
    report = ImportReport()
    sources = {}
    for name, path in paths.items():
        sources[name] = _read(path, mapping.sources[name])
        report.source_rows[name] = len(sources[name])
    builder = _Builder(mapping, sources, paths)
    raw: dict[str, pd.DataFrame] = {}
    origins: dict[str, list[str]] = {}
    for entity, spec in mapping.entities.items():
        rows = builder.entity_rows(entity, spec)
        origins[entity] = rows.pop("_origin").tolist()
        raw[entity] = rows.astype(object).where(rows.notna(), "")
    declarations = [
        {
            "entity": entity,
            "name": c.name,
            "kind": c.kind,
            "leaky": "true" if c.leaky else "false",
            "meaning": c.meaning or f"{c.column} ({mapping.name})",
        }
        for entity, spec in mapping.entities.items()
        for c in spec.custom
    ]
    if declarations:
        raw["custom_attributes"] = pd.DataFrame(declarations)
        origins["custom_attributes"] = ["the mapping's custom attributes"] * len(declarations)
    report.problems += builder.problems
    data, checked = validate_frames(raw, funnel, lenient=True)
    for p in checked.problems:
        origin = origins.get(p.file.removesuffix(".csv"), [])
        where = origin[p.row - 2] if p.row is not None and 0 <= p.row - 2 < len(origin) else p.file
        report.problems.append(f"{where} -> {p.file} row {p.row}: {p.column}: {p.message} [{p.rule}]")
    report.skipped = {k.removesuffix(".csv"): v for k, v in checked.skipped.items()}
    fatal = [p for p in checked.problems if p.row is None]
    if fatal:
        raise MappingError("the mapped data cannot be validated:\n  " + "\n  ".join(str(p) for p in fatal))
    write_data_dir(data, out)
    report.written = {name: len(frame) for name, frame in data.frames().items()}
    (out / "import_report.json").write_text(
        json.dumps({"mapping": mapping.name, **report.to_dict()}, ensure_ascii=False, indent=2),
        encoding="utf-8",
    )
    return data, report


def write_data_dir(data: CRMData, out: Path) -> None:
    """Every entity file (empty ones with their header), UTF-8 CSV, timestamps as ISO 8601 UTC."""
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in data.frames().items():
        if name == "custom_attributes" and frame.empty:
            continue
        frame.to_csv(out / f"{name}.csv", index=False, encoding="utf-8", date_format=ISO)
