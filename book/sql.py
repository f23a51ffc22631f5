"""Small SQL helpers shared by the book's modules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from msgspec.json import encode
from sqlalchemy import ColumnElement, Connection, String, Table, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

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
