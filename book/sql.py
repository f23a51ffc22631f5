"""Small SQL helpers shared by the book's modules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from msgspec.json import encode
from sqlalchemy import ColumnElement, Connection, String, Table, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from funnelcast.book.tables import Instant, instant_text

CHUNK = 5000  # values per IN (...): far below SQLite's and PostgreSQL's parameter limits


def chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def upsert_statement(conn: Connection, table: Table):
    """INSERT ... ON CONFLICT for the connection's dialect (SQLite and PostgreSQL share the form)."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def among(conn: Connection, column, values: Iterable) -> ColumnElement[bool]:
    """`column IN values` with one bound parameter however many values: SQLite reads them from a JSON
    array (`IN (SELECT value FROM json_each(?))`), PostgreSQL from an array (`= ANY(%s)`). Both still
    look each value up in the column's index; the statement is compiled once, where an expanding
    `IN (?, ?, ...)` is rendered anew for every list."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(String), unique=True))
    listed = func.json_each(bindparam(None, encode(values).decode(), type_=String, unique=True))
    return column.in_(select(listed.table_valued("value").c.value))


@dataclass
class Many:
    """An INSERT (or upsert) with its rows, ready to run: on SQLite its text and each row's parameters
    already converted by the columns' types (JSON encoded, instants in the stored form), so a writer
    holding the write lock only hands them to the driver."""

    stmt: object
    rows: list[dict]
    sql: str | None = None
    params: list[tuple] | None = None


def prepare_many(bind, stmt, rows: list[dict]) -> Many:
    """`stmt` for each of `rows` (dicts with the same keys, the statement's only parameters); `bind` is
    a connection or an engine (its dialect). SQLAlchemy's own executemany builds and processes a
    parameter dict per row, ~25 us a row, ~20 ms of each 1,000 saved scores (docs/benchmarks.md)."""
    dialect = bind.dialect
    if dialect.name != "sqlite" or not rows:
        return Many(stmt, rows)
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    names = compiled.positiontup
    table = stmt.table
    convert = []
    for j, name in enumerate(names):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            convert.append((j, processor))
    params = _converted([tuple(row[n] for n in names) for row in rows], convert)
    return Many(stmt, rows, compiled.string, params)


def run_many(conn: Connection, many: Many) -> None:
    if not many.rows:
        return
    if many.sql is None:
        conn.execute(many.stmt, many.rows)
    else:
        conn.exec_driver_sql(many.sql, many.params)


def execute_many(conn: Connection, stmt, rows: list[dict]) -> None:
    """Execute an INSERT (or upsert) once per row of `rows` (see `prepare_many`)."""
    run_many(conn, prepare_many(conn, stmt, rows))


def plain_rows(conn: Connection, stmt) -> tuple[list[str], list[tuple]]:
    """The column names and rows of a select, each value as its column's type reads it (an Instant as
    the book's text, JSON as Python values). On SQLite the statement runs as its SQL text and only the
    columns whose type converts are converted: SQLAlchemy's own result rows cost ~3 us a row, and a
    re-score of 1,000 leads reads ~15,000 activities (docs/benchmarks.md). Other stores: as usual."""
    keys = [c.key for c in stmt.selected_columns]
    if conn.dialect.name != "sqlite":
        return keys, [tuple(r) for r in conn.execute(stmt)]
    compiled = stmt.compile(dialect=conn.dialect)
    values = compiled.construct_params()
    rows = conn.exec_driver_sql(compiled.string, tuple(values[n] for n in compiled.positiontup)).fetchall()
    convert = [(j, _reader(c.type, conn.dialect)) for j, c in enumerate(stmt.selected_columns)]
    return keys, _converted(rows, [(j, read) for j, read in convert if read is not None])


def _converted(rows: list, convert: list[tuple[int, Callable]]) -> list:
    """`rows` with column j passed through its function, for each (j, function) of `convert`: a column
    at a time (one list comprehension each, the rows taken apart and put together once)."""
    if not convert or not rows:
        return rows
    columns = list(zip(*rows, strict=True))
    for j, function in convert:
        columns[j] = [function(v) for v in columns[j]]
    return list(zip(*columns, strict=True))


def _reader(type_, dialect):
    """How a value of this column type is read from SQLite (None: as it comes)."""
    if isinstance(type_, Instant):
        return instant_text  # the stored text, without SQLAlchemy's wrapper calls
    return type_.dialect_impl(dialect).result_processor(dialect, None)
