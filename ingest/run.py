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


FALLBACK_ENCODINGS = ("gb18030",)  # what CRM exports in Chinese are written in when not UTF-8 (GBK, GB2312)


def encoding_of(path: Path, spec) -> tuple[str, str | None]:
    """The encoding to read a CSV with: the mapping's, else (when the mapping leaves the UTF-8 default
    and the file is not UTF-8) the first fallback that reads the whole file, with a note saying so. A
    file no encoding reads is a clear error naming the mapping's `encoding:` option."""
    raw = path.read_bytes()
    try:
        raw.decode(spec.encoding)
        return spec.encoding, None
    except UnicodeDecodeError as exc:
        first = exc
    except LookupError:
        raise MappingError(
            f"{path.name}: unknown encoding {spec.encoding!r} (the source's `encoding:`)"
        ) from None
    if spec.encoding.replace("_", "-").lower() in ("utf-8", "utf-8-sig", "utf8"):
        for fallback in FALLBACK_ENCODINGS:
            try:
                raw.decode(fallback)
            except UnicodeDecodeError:
                continue
            return fallback, (
                f"{path.name}: not UTF-8 ({first.reason} at byte {first.start}); read as "
                f"{fallback.upper()}. Say `encoding: {fallback}` for this source in the mapping "
                "if that is right [encoding]"
            )
    raise MappingError(
        f"{path.name}: cannot be read as {spec.encoding} ({first.reason} at byte {first.start}); give the "
        "file's encoding with `encoding:` for this source in the mapping (e.g. encoding: gb18030 for a "
        "Chinese Excel export saved as CSV)"
    )


def _read(path: Path, spec, nrows: int | None = None, encoding: str | None = None) -> pd.DataFrame:
    if path.suffix.lower() in (".xlsx", ".xls"):
        frame = pd.read_excel(path, sheet_name=spec.sheet or 0, dtype=str, nrows=nrows, keep_default_na=False)
    else:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding=encoding or spec.encoding,
            sep=spec.delimiter,
            nrows=nrows,
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def check_headers(mapping: Mapping, paths: dict[str, Path], encodings: dict[str, str] | None = None) -> None:
    """Every column the mapping reads exists in its file (header only: no data row read yet)."""
    problems = []
    for source, columns in mapping.columns_used().items():
        header = set(
            _read(
                paths[source], mapping.sources[source], nrows=0, encoding=(encodings or {}).get(source)
            ).columns
        )
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
            rank = (
                frame.index.to_series()
                if spec.row_number
                else pd.to_numeric(frame[spec.column], errors="coerce")
            )
            order = rank.rank(method="first")
            stamps = pd.Timestamp(spec.row_order_time.start).tz_localize(None) + pd.to_timedelta(
                (order - 1) * spec.row_order_time.step_seconds + 86_400 * (spec.plus_days or 0), unit="s"
            )
            out = pd.Series(stamps, index=frame.index).dt.strftime(ISO).where(order.notna())
        elif spec.row_number:
            out = pd.Series([f"{spec.prefix}{i + 2}" for i in frame.index], index=frame.index, dtype=object)
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
    mapping: Mapping, files: list[Path], out: Path, funnel: FunnelConfig, currency_rates: dict | None = None
) -> tuple[CRMData, ImportReport]:
    """Import, validate (lenient: rows breaking a rule are reported and left out) and write `out`.
    With `currency_rates` (leads.yaml), amounts in a currency without a rate are counted in the report."""
    paths = resolve_sources(mapping, files)
    report = ImportReport()
    encodings = {}
    for name, path in paths.items():
        if path.suffix.lower() not in (".xlsx", ".xls"):
            encodings[name], note = encoding_of(path, mapping.sources[name])
            if note:
                report.problems.append(note)
    check_headers(mapping, paths, encodings)
    sources = {}
    for name, path in paths.items():
        sources[name] = _read(path, mapping.sources[name], encoding=encodings.get(name))
        report.source_rows[name] = len(sources[name])
    builder = _Builder(mapping, sources, paths)
    raw: dict[str, pd.DataFrame] = {}
    origins: dict[str, list[str]] = {}
    for entity, spec in mapping.entities.items():
        rows = builder.entity_rows(entity, spec)
        origins[entity] = rows.pop("_origin").tolist()
        raw[entity] = rows.astype(object).where(rows.notna(), "")
    dropped = _drop_duplicates(raw, origins, mapping, report)
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
    for entity, n in dropped.items():
        report.skipped[entity] = report.skipped.get(entity, 0) + n
    fatal = [p for p in checked.problems if p.row is None]
    if fatal:
        raise MappingError("the mapped data cannot be validated:\n  " + "\n  ".join(str(p) for p in fatal))
    if currency_rates:
        report.problems += currency_notes(data, currency_rates)
    write_data_dir(data, out)
    report.written = {name: len(frame) for name, frame in data.frames().items()}
    (out / "import_report.json").write_text(
        json.dumps({"mapping": mapping.name, **report.to_dict()}, ensure_ascii=False, indent=2),
        encoding="utf-8",
    )
    return data, report


def currency_notes(data: CRMData, rates: dict) -> list[str]:
    """One line per file with amounts in currencies leads.yaml has no rate for (they count as unknown)."""
    notes = []
    for name, amount, currency in (
        ("leads", "budget_amount", "budget_currency"),
        ("opportunities", "amount", "currency"),
    ):
        frame = getattr(data, name)
        given = frame.loc[frame[amount].notna() & frame[currency].notna(), currency].astype(str).str.upper()
        counts = given[~given.isin(set(rates))].value_counts()
        if len(counts):
            listed = ", ".join(f"{c} ({n:,})" for c, n in counts.items())
            notes.append(
                f"{name}.csv: {int(counts.sum()):,} amount(s) in a currency without a rate in leads.yaml: "
                f"{listed}; scoring counts them as unknown until a rate is configured [currency]"
            )
    return notes


# rows that belong to a parent row, by the column holding the parent's id
CHILDREN = {
    "accounts": [("leads", "account_id"), ("opportunities", "account_id"), ("activities", "entity_id")],
    "leads": [("opportunities", "lead_id"), ("activities", "entity_id")],
    "opportunities": [
        ("stage_history", "opportunity_id"),
        ("close_date_history", "opportunity_id"),
        ("amount_history", "opportunity_id"),
        ("activities", "entity_id"),
    ],
}


def _drop_duplicates(
    raw: dict[str, pd.DataFrame], origins: dict[str, list[str]], mapping: Mapping, report: ImportReport
) -> dict[str, int]:
    """A key seen twice keeps its first row and that row's children; each later row, and the rows made
    from the same source row for it (its stage rows, say), are left out with a reason line each.
    Entities the mapping deduplicates on purpose (accounts from deal rows) are not duplicates."""
    dropped: dict[str, int] = {}
    for entity, spec in mapping.entities.items():
        key = ENTITIES[entity].key
        frame = raw.get(entity)
        if spec.deduplicate or not key or frame is None or key not in frame:
            continue
        ids = frame[key].astype(str)
        dup = (ids != "") & ids.duplicated(keep="first")
        if not dup.any():
            continue
        first = {k: origins[entity][i] for i, k in reversed(list(enumerate(ids))) if k}
        gone = set()
        for i in np.flatnonzero(dup.to_numpy()):
            gone.add((ids.iloc[i], origins[entity][i]))
            report.problems.append(
                f"{origins[entity][i]}: {entity}.{key} {ids.iloc[i]!r} repeats "
                f"{first[ids.iloc[i]]}; the first row is kept, this one is not imported [duplicate]"
            )
        keep = ~dup.to_numpy()
        raw[entity], origins[entity] = (
            frame[keep].reset_index(drop=True),
            [o for o, k in zip(origins[entity], keep, strict=True) if k],
        )
        dropped[entity] = dropped.get(entity, 0) + int(dup.sum())
        for child, column in CHILDREN.get(entity, []):
            rows = raw.get(child)
            if rows is None or column not in rows:
                continue
            pairs = list(zip(rows[column].astype(str), origins[child], strict=True))
            out = np.array([p in gone for p in pairs], dtype=bool)
            for parent, origin in [p for p, o in zip(pairs, out, strict=True) if o]:
                report.problems.append(
                    f"{origin}: {child} row of {entity} {parent!r} is not imported with "
                    "its duplicate row [duplicate]"
                )
            raw[child] = rows[~out].reset_index(drop=True)
            origins[child] = [o for o, x in zip(origins[child], out, strict=True) if not x]
            dropped[child] = dropped.get(child, 0) + int(out.sum())
    return dropped


def write_data_dir(data: CRMData, out: Path) -> None:
    """Every entity file (empty ones with their header), UTF-8 CSV, timestamps as ISO 8601 UTC."""
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in data.frames().items():
        if name == "custom_attributes" and frame.empty:
            continue
        frame.to_csv(out / f"{name}.csv", index=False, encoding="utf-8", date_format=ISO)
