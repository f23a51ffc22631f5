"""The book's schema: migrations create exactly the tables the code uses, on SQLite and PostgreSQL,
and an instant reads back as the UTC instant it was."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select

from funnelcast.book import reads
from funnelcast.book import tables as t
from funnelcast.book.db import MIGRATIONS, current_revision, engine_for, healthy, migrate
from funnelcast.features.schema import ENTITIES


def test_migrations_create_exactly_the_tables_the_code_uses(book_url):
    engine = engine_for(book_url)
    migrate(engine)
    migrate(engine)  # idempotent
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None and current_revision(engine) == head and healthy(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []


def test_a_scored_book_upgraded_to_the_clock_table_keeps_its_time(book_url):
    """Migration 0004 replaced the index on lead_scores.as_of by a one-row clock: a book scored before
    it reads the same "as of" (its newest lead or deal score) after it, and an empty book has none."""
    engine = engine_for(book_url)
    empty = engine_for(book_url.replace("book.db", "empty.db")) if "sqlite" in book_url else None
    if empty is not None:
        migrate(empty)
        with empty.connect() as conn:
            assert reads.clock(conn) is None
    migrate(engine, "0003")
    common = {"scored_at": "2025-04-01T00:00:00Z", "result": {}}
    leads = [
        {
            "lead_id": f"L{i}",
            "priority": 0.5,
            "grade": "Warm",
            "stale": False,
            "grade_since": when,
            "as_of": when,
            **common,
        }
        for i, when in enumerate(["2025-01-01T00:00:00Z", "2025-02-01T08:00:00Z"])
    ]
    deal = {
        "opportunity_id": "O1",
        "p_won": 0.3,
        "health_score": 50.0,
        "health": "at risk",
        "priority": 1.0,
        "n_flags": 0,
        "health_since": "2025-03-01T00:00:00Z",
        "as_of": "2025-03-01T00:00:00Z",
        **common,
    }
    with engine.begin() as conn:
        conn.execute(insert(t.lead_scores), leads)
        conn.execute(insert(t.deal_scores), [deal])
    migrate(engine)
    with engine.connect() as conn:
        assert reads.clock(conn) == "2025-03-01T00:00:00Z"


def test_every_column_of_the_data_model_has_its_place_in_the_book():
    for name, table in t.ENTITY_TABLES.items():
        missing = [c.name for c in ENTITIES[name].columns if c.name not in table.c]
        custom = "custom" in table.c
        assert not missing, (name, missing)
        assert custom or name in ("activities", "stage_history", "close_date_history", "amount_history")


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("2025-05-20T09:30:00Z", "2025-05-20T09:30:00Z"),
        ("2025-05-20T17:30:00+08:00", "2025-05-20T09:30:00Z"),
        ("2025-05-20", "2025-05-20T00:00:00Z"),
        ("2025-05-20T09:30:00.250000Z", "2025-05-20T09:30:00.250000Z"),
    ],
)
def test_an_instant_reads_back_as_utc_text(book_url, given, read):
    engine = engine_for(book_url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(insert(t.accounts).values(account_id="A", name="星辰", updated_at=given))
        assert conn.execute(select(t.accounts.c.updated_at)).scalar() == read
        assert conn.execute(
            select(t.accounts.c.account_id).where(t.accounts.c.updated_at >= "2025-05-20")
        ).all()


def test_a_store_that_does_not_answer_is_not_healthy():
    assert not healthy(engine_for("postgresql+psycopg://nobody@127.0.0.1:1/none"))


def _migrate_in_a_process(url: str) -> str:
    """What each server worker does at start."""
    from funnelcast.book.db import current_revision, engine_for, migrate

    engine = engine_for(url)
    migrate(engine)
    return current_revision(engine)


def test_processes_starting_together_migrate_a_new_book_once(book_url):
    """Server workers start at the same moment: one creates the schema, the others wait and find it
    done (before the lock, one of them failed with "table accounts already exists")."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        revisions = pool.map(_migrate_in_a_process, [book_url] * 4)
    assert len(set(revisions)) == 1 and revisions[0] == current_revision(engine_for(book_url))
