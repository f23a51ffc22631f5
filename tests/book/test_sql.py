"""The book's SQL helpers: `plain_rows` reads what SQLAlchemy's own rows read, and `execute_many`
writes what `conn.execute(stmt, rows)` writes, on each backend (SQLite takes the fast path)."""

from __future__ import annotations

from sqlalchemy import select

from funnelcast.book import tables as t
from funnelcast.book.db import engine_for, migrate
from funnelcast.book.sql import among, execute_many, plain_rows, upsert_statement

SCORE = {
    "probability": 0.42,
    "score": 42.0,
    "priority": 0.42,
    "grade": "Warm",
    "stale": True,
    "owner": "张伟",
    "source": None,
    "grade_since": "2025-05-01T00:00:00Z",
    "as_of": "2025-05-02T08:30:00.250000Z",
    "scored_at": "2025-05-02T08:30:01Z",
    "model_version": "lead:3",
    "result": {"lead_id": "?", "reasons": {"positive": [{"text": "最近7天访问网站12次"}]}, "x": None},
}


def _rows(prefix: str, n: int = 3) -> list[dict]:
    return [{"lead_id": f"{prefix}{i}", **SCORE, "score": float(i), "stale": i % 2 == 0} for i in range(n)]


def _upsert(conn):
    stmt = upsert_statement(conn, t.lead_scores)
    return stmt.on_conflict_do_update(index_elements=["lead_id"], set_={c: stmt.excluded[c] for c in SCORE})


def test_execute_many_writes_what_execute_writes_and_plain_rows_reads_the_same(book_url):
    engine = engine_for(book_url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(_upsert(conn), _rows("A"))  # SQLAlchemy's own executemany
        execute_many(conn, _upsert(conn), _rows("B"))
        execute_many(conn, _upsert(conn), [{**r, "grade": "Hot"} for r in _rows("B", 2)])  # updates
        execute_many(conn, _upsert(conn), [])  # nothing to do
    s = t.lead_scores
    with engine.connect() as conn:
        query = select(s).where(among(conn, s.c.lead_id, ["A0", "A1", "A2", "B0", "B1", "B2"]))
        expected = {r.lead_id: dict(r._mapping) for r in conn.execute(query)}
        names, rows = plain_rows(conn, query)
    got = {r[0]: dict(zip(names, r, strict=True)) for r in rows}
    assert got == expected  # every type read back alike: instants as text, JSON, booleans, NULL
    for i in range(3):
        a, b = dict(got[f"A{i}"]), dict(got[f"B{i}"])
        assert (a.pop("lead_id"), b.pop("lead_id")) == (f"A{i}", f"B{i}")
        assert b == {**a, "grade": "Hot" if i < 2 else "Warm"}  # same values through either path
    assert got["B1"]["stale"] is False and got["B0"]["stale"] is True
    assert (
        got["B0"]["as_of"] == "2025-05-02T08:30:00.250000Z"
        and got["B0"]["scored_at"] == "2025-05-02T08:30:01Z"
    )
    assert got["B0"]["result"]["reasons"]["positive"][0]["text"] == "最近7天访问网站12次"
    with engine.connect() as conn:  # stored alike, not only read back alike (SQLite: the fixed-width text)
        raw = conn.exec_driver_sql(
            "SELECT lead_id, grade_since, as_of, stale, result FROM lead_scores WHERE lead_id IN ('A2', 'B2')"
        ).all()
        assert raw[0][1:] == raw[1][1:]
        assert plain_rows(conn, select(s.c.lead_id).where(s.c.lead_id == "none"))[1] == []  # none found


def test_an_activity_is_read_in_the_field_order_of_the_apis_activity():
    from funnelcast.book.records import ACTIVITY_COLUMNS
    from funnelcast.serving.scoring.body import Activity

    assert (
        Activity.__struct_fields__ == ACTIVITY_COLUMNS
    )  # regrade builds each Activity from a row by position
