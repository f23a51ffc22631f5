"""Read a CRM data directory into typed, validated frames. All file I/O of `features` lives here.

A data directory holds one file per entity, `<entity>.csv` or `<entity>.parquet` (UTF-8 CSV; a
byte-order mark is accepted). Timestamps are normalised to UTC; naive timestamps are taken as UTC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from funnelcast.core.config import FunnelConfig
from funnelcast.features.arrays import is_member
from funnelcast.features.errors import DataValidationError
from funnelcast.features.schema import CUSTOM_ENTITIES, CUSTOM_PREFIX, ENTITIES, Entity
from funnelcast.features.validation import (
    Problem,
    check_stages,
    coerce_frame,
    empty_frame,
    not_before,
    unknown_reference,
)

logger = logging.getLogger(__name__)
SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class CRMData:
    """Typed canonical frames, one per entity, each with a fresh 0..n-1 index."""

    accounts: pd.DataFrame
    leads: pd.DataFrame
    activities: pd.DataFrame
    opportunities: pd.DataFrame
    stage_history: pd.DataFrame
    close_date_history: pd.DataFrame
    amount_history: pd.DataFrame
    custom_attributes: pd.DataFrame = field(
        default_factory=lambda: empty_frame(ENTITIES["custom_attributes"])
    )

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in ENTITIES}

    def last_event(self) -> pd.Timestamp | None:
        """The last moment the data describes: its latest timestamp (the export time, in effect)."""
        stamps = [
            self.leads["created_at"],
            self.leads["converted_at"],
            self.leads["disqualified_at"],
            self.activities["occurred_at"],
            self.opportunities["created_at"],
            self.opportunities["closed_at"],
            self.stage_history["entered_at"],
            self.close_date_history["changed_at"],
            self.amount_history["changed_at"],
        ]
        found = [s.max() for s in stamps if s.notna().any()]
        return max(found) if found else None


@dataclass
class LoadReport:
    """What loading found: every problem, and rows skipped per file under the lenient option."""

    problems: list[Problem] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def find_entity_file(directory: Path, entity: Entity) -> tuple[Path | None, list[Problem]]:
    matches = [
        directory / f"{entity.name}{s}" for s in SUFFIXES if (directory / f"{entity.name}{s}").is_file()
    ]
    if len(matches) > 1:
        return None, [
            Problem(
                matches[0].name,
                None,
                None,
                "file",
                f"both {matches[0].name} and {matches[1].name} exist; keep one",
            )
        ]
    if not matches:
        if entity.optional:
            return None, []
        return None, [
            Problem(
                f"{entity.name}.csv",
                None,
                None,
                "file",
                f"required file is missing in {directory} (expected {entity.name}.csv or .parquet)",
            )
        ]
    return matches[0], []


def read_raw(path: Path) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read one file; CSV cells stay text so every value can be checked and reported."""
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [
            Problem(
                path.name,
                None,
                None,
                "encoding",
                f"not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8, or read it with "
                "`funnelcast import` and a mapping's `encoding:` option",
            )
        ]
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        return None, [Problem(path.name, None, None, "format", f"cannot be read: {exc}")]
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(2, len(frame) + 2)  # spreadsheet rows: header is row 1
    return frame, []


def read_data_dir(directory: Path | str) -> tuple[dict[str, pd.DataFrame], dict[str, Path], list[Problem]]:
    """Read every entity file present; return raw frames keyed by entity and file-level problems."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}, {}, [Problem(str(directory), None, None, "file", "data directory not found")]
    raw: dict[str, pd.DataFrame] = {}
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    for entity in ENTITIES.values():
        path, found = find_entity_file(directory, entity)
        problems += found
        if path is None:
            continue
        frame, read_problems = read_raw(path)
        problems += read_problems
        if frame is not None:
            raw[entity.name], files[entity.name] = frame, path
    return raw, files, problems


def validate_frames(
    raw: dict[str, pd.DataFrame],
    funnel: FunnelConfig,
    *,
    files: dict[str, Path] | None = None,
    lenient: bool = False,
    unreadable: set[str] | frozenset[str] = frozenset(),
) -> tuple[CRMData, LoadReport]:
    """Type and check raw entity frames; in lenient mode drop (and count) rows that break a rule.

    Entities are checked parents first, so a row that references a skipped parent is itself
    reported and skipped: nothing disappears without a line in the report. References into an
    entity whose file could not be read (`unreadable`, already reported) or holds a header and no rows
    are not checked row by row: one line says so instead of one per referring row.
    """
    files = files or {}
    report = LoadReport(files=dict(files))
    names = {e: (files[e].name if e in files else f"{e}.csv") for e in ENTITIES}
    typed: dict[str, pd.DataFrame] = {}
    bad: dict[str, pd.Series] = {}

    for name, entity in ENTITIES.items():
        frame = raw.get(name, pd.DataFrame(columns=entity.column_names))
        if frame.index.empty or not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 2:
            frame = frame.set_axis(pd.RangeIndex(2, len(frame) + 2), axis=0)
        typed[name], problems = coerce_frame(frame, entity, names[name])
        report.problems += problems
        bad[name] = _rows_with(problems, typed[name].index)

    def keep(name: str) -> pd.DataFrame:
        return typed[name][~bad[name]] if lenient else typed[name]

    def reference(child: str, column: str, parent: str, parent_key: str, label: str) -> None:
        if _no_parent(typed, names, child, typed[child][column], parent, label, unreadable, report):
            return
        problems, mask = unknown_reference(
            typed[child][column], keep(parent)[parent_key], names[child], column, label
        )
        report.problems.extend(problems)
        bad[child] |= mask

    def chronology(name: str, later: str, earlier: str, what: str) -> None:
        problems, mask = not_before(typed[name][later], typed[name][earlier], names[name], later, what)
        report.problems.extend(problems)
        bad[name] |= mask

    _type_custom_columns(typed, names, report, bad)
    _leads, opps = typed["leads"], typed["opportunities"]
    reference("leads", "account_id", "accounts", "account_id", "account")
    chronology("leads", "converted_at", "created_at", "created_at")
    chronology("leads", "disqualified_at", "created_at", "created_at")

    reference("opportunities", "lead_id", "leads", "lead_id", "lead")
    reference("opportunities", "account_id", "accounts", "account_id", "account")
    chronology("opportunities", "closed_at", "created_at", "created_at")
    unknown_pipeline = opps["pipeline"].notna() & ~is_member(opps["pipeline"], funnel.pipeline_keys)
    report.problems += [
        Problem(
            names["opportunities"],
            int(r),
            "pipeline",
            "pipeline",
            f"unknown pipeline {p!r} (configured: {funnel.pipeline_keys})",
        )
        for r, p in opps["pipeline"][unknown_pipeline].items()
    ]
    bad["opportunities"] |= unknown_pipeline
    _check_outcomes(opps, names["opportunities"], report, bad)

    reference("stage_history", "opportunity_id", "opportunities", "opportunity_id", "opportunity")
    stage_problems, stage_bad = check_stages(typed["stage_history"], opps, funnel, names["stage_history"])
    report.problems += stage_problems
    bad["stage_history"] |= stage_bad
    _check_won_stage(typed["stage_history"], opps, funnel, names["opportunities"], report, bad)

    for hist in ("close_date_history", "amount_history"):
        reference(hist, "opportunity_id", "opportunities", "opportunity_id", "opportunity")
    _check_activity_refs(typed, keep, names, report, bad, unreadable)

    if lenient:
        _cascade(typed, bad)
        for name in ENTITIES:
            n_bad = int(bad[name].sum())
            if n_bad:
                report.skipped[names[name]] = n_bad
                logger.warning("skipped %d row(s) of %s (lenient)", n_bad, names[name])
        typed = {name: typed[name][~bad[name]] for name in ENTITIES}
    data = CRMData(**{name: frame.reset_index(drop=True) for name, frame in typed.items()})
    return data, report


def _type_custom_columns(
    typed: dict[str, pd.DataFrame], names: dict[str, str], report: LoadReport, bad: dict[str, pd.Series]
) -> None:
    """Type the declared `custom.<name>` columns; an undeclared custom column or a declared one that is
    missing is a problem, as is a value that is not a number in a number attribute."""
    decl = typed["custom_attributes"]
    decl_file = names["custom_attributes"]
    declared: set[tuple[str, str]] = set()
    for row, entity, name, kind in zip(decl.index, decl["entity"], decl["name"], decl["kind"], strict=True):
        if pd.isna(entity) or pd.isna(name) or pd.isna(kind):
            continue  # already reported as a required value
        if (entity, name) in declared:
            report.problems.append(
                Problem(decl_file, int(row), "name", "unique", f"{entity}.{name} declared twice")
            )
            bad["custom_attributes"][row] = True
            continue
        declared.add((entity, name))
        column = CUSTOM_PREFIX + name
        frame = typed[entity]
        if column not in frame.columns:
            report.problems.append(
                Problem(
                    decl_file,
                    int(row),
                    "name",
                    "custom_column",
                    f"declared, but {names[entity]} has no column {column!r}",
                )
            )
            bad["custom_attributes"][row] = True
            continue
        text = frame[column].astype("str").str.strip()
        text = text.where(frame[column].notna() & (text != ""))
        if kind == "number":
            values = pd.to_numeric(text, errors="coerce")
            wrong = text.notna() & values.isna()
            report.problems += [
                Problem(names[entity], int(r), column, "number", f"not a number: {v!r}")
                for r, v in text[wrong].items()
            ]
            bad[entity] |= wrong
            frame[column] = values.astype("float64")
        else:
            frame[column] = text
    for entity in CUSTOM_ENTITIES:
        for column in typed[entity].columns:
            if column.startswith(CUSTOM_PREFIX) and (entity, column[len(CUSTOM_PREFIX) :]) not in declared:
                report.problems.append(
                    Problem(
                        names[entity],
                        None,
                        column,
                        "custom_column",
                        "custom column is not declared in custom_attributes.csv (entity, name, kind)",
                    )
                )


def _rows_with(problems: list[Problem], index: pd.Index) -> pd.Series:
    rows = {p.row for p in problems if p.row is not None}
    return pd.Series(index.isin(list(rows)), index=index)


def _check_outcomes(opps: pd.DataFrame, file: str, report: LoadReport, bad: dict[str, pd.Series]) -> None:
    closed = opps["outcome"].isin(["won", "lost"])
    no_close = closed & opps["closed_at"].isna()
    open_closed = (opps["outcome"] == "open") & opps["closed_at"].notna()
    for mask, msg in (
        (no_close, "outcome is won/lost but closed_at is empty"),
        (open_closed, "outcome is open but closed_at is set"),
    ):
        report.problems += [Problem(file, int(r), "closed_at", "outcome", msg) for r in opps.index[mask]]
        bad["opportunities"] |= mask


def _check_won_stage(
    stages: pd.DataFrame,
    opps: pd.DataFrame,
    funnel: FunnelConfig,
    file: str,
    report: LoadReport,
    bad: dict[str, pd.Series],
) -> None:
    won_key = {p.key: p.won_stage.key for p in funnel.pipelines}
    won_stage = opps["pipeline"].map(won_key)
    sep = "\x1f"  # a separator that cannot occur in ids or stage keys
    has_won = is_member(
        opps["opportunity_id"] + sep + won_stage, stages["opportunity_id"] + sep + stages["stage"]
    )
    mask = (opps["outcome"] == "won") & won_stage.notna() & ~has_won
    report.problems += [
        Problem(
            file,
            int(r),
            "outcome",
            "won_stage",
            f"outcome is won but stage_history has no {w!r} entry for {o!r}",
        )
        for r, o, w in zip(opps.index[mask], opps["opportunity_id"][mask], won_stage[mask], strict=True)
    ]
    bad["opportunities"] |= mask


def _no_parent(
    typed: dict[str, pd.DataFrame],
    names: dict[str, str],
    child: str,
    refs: pd.Series,
    parent: str,
    label: str,
    unreadable,
    report: LoadReport,
) -> bool:
    """True when `parent` cannot be checked against: its file is unreadable (said already) or holds
    a header and no rows while `refs` name some (said here, once)."""
    if parent in unreadable:
        return True
    if len(typed[parent]) or not refs.notna().any():
        return False
    report.problems.append(
        Problem(
            names[parent],
            None,
            None,
            "empty",
            f"has a header and no rows, while {int(refs.notna().sum()):,} row(s) of {names[child]} refer "
            f"to a {label}",
        )
    )
    return True


def _check_activity_refs(
    typed: dict[str, pd.DataFrame],
    keep,
    names: dict[str, str],
    report: LoadReport,
    bad: dict[str, pd.Series],
    unreadable,
) -> None:
    acts, file = typed["activities"], names["activities"]
    parents = {
        "lead": ("leads", "lead_id"),
        "opportunity": ("opportunities", "opportunity_id"),
        "account": ("accounts", "account_id"),
    }
    for entity_type, (parent, key) in parents.items():
        sel = acts["entity_type"] == entity_type
        if _no_parent(
            typed, names, "activities", acts["entity_id"][sel], parent, entity_type, unreadable, report
        ):
            continue
        problems, mask = unknown_reference(
            acts["entity_id"][sel], keep(parent)[key], file, "entity_id", entity_type
        )
        report.problems += problems
        bad["activities"] |= mask.reindex(acts.index, fill_value=False)


def _cascade(typed: dict[str, pd.DataFrame], bad: dict[str, pd.Series]) -> None:
    """Lenient mode: children of skipped parents are skipped too (and so counted)."""

    def dropped(name: str, key: str) -> pd.Series:
        """Ids of a parent's rows left out, unless another row with that id stays (a repeated id keeps its
        first row, and its children stay with it)."""
        ids = typed[name][key]
        return ids[bad[name] & ~is_member(ids, ids[~bad[name]])]

    bad["leads"] |= is_member(typed["leads"]["account_id"], dropped("accounts", "account_id"))
    bad["opportunities"] |= is_member(typed["opportunities"]["lead_id"], dropped("leads", "lead_id"))
    bad["opportunities"] |= is_member(typed["opportunities"]["account_id"], dropped("accounts", "account_id"))
    gone_opps = dropped("opportunities", "opportunity_id")
    for hist in ("stage_history", "close_date_history", "amount_history"):
        bad[hist] |= is_member(typed[hist]["opportunity_id"], gone_opps)
    acts = typed["activities"]
    for entity_type, (parent, key) in {
        "lead": ("leads", "lead_id"),
        "opportunity": ("opportunities", "opportunity_id"),
        "account": ("accounts", "account_id"),
    }.items():
        bad["activities"] |= (acts["entity_type"] == entity_type) & is_member(
            acts["entity_id"], dropped(parent, key)
        )


def load_crm_data(
    directory: Path | str, funnel: FunnelConfig, *, lenient: bool = False
) -> tuple[CRMData, LoadReport]:
    """Read and validate a data directory.

    Raises `DataValidationError` listing every problem unless `lenient`, in which case rows that
    break a rule (and rows that depend on them) are skipped and counted in the report. File-level
    problems (missing file or column, unreadable file) always raise.

    Examples
    --------
    >>> data, report = load_crm_data("demo/data", load_config().funnel)  # doctest: +SKIP
    >>> data.leads.dtypes["created_at"]  # doctest: +SKIP
    datetime64[ns, UTC]
    """
    raw, files, problems = read_data_dir(directory)
    unreadable = {Path(p.file).stem for p in problems if p.rule in ("encoding", "format")} - set(raw)
    data, report = validate_frames(raw, funnel, files=files, lenient=lenient, unreadable=unreadable)
    report.problems = problems + report.problems
    fatal = [p for p in report.problems if p.row is None]
    if fatal or (report.problems and not lenient):
        raise DataValidationError(report.problems, report.skipped)
    return data, report
