"""Small SQL helpers shared by the book's modules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits


def chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def upsert_statement(conn: Connection, table: Table):
    """INSERT ... ON CONFLICT for the connection's dialect (SQLite and PostgreSQL share the form)."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
