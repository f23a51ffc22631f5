"""Opening the book: the engine for its URL (SQLite in WAL mode by default, PostgreSQL by URL) and the
Alembic migration to the newest schema."""

from __future__ import annotations

from pathlib import Path

from msgspec.json import encode as _encode
from sqlalchemy import Engine, create_engine, event, text

from funnelcast.core import paths

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MMAP_BYTES = 1 << 34  # address space only: pages are the OS's cache, read without a copy
CACHE_KIB = 65_536
MIGRATION_LOCK = 0x66756E6D  # PostgreSQL advisory lock key of migrations ("funm")


def _json(value) -> str:
    """JSON columns (a score's full answer, its reasons) as UTF-8 text: msgspec, ~5x the stdlib's speed
    on the thousand answers a batch stores."""
    return _encode(value).decode()


def engine_for(url: str | None = None, background_checkpoints: bool = False) -> Engine:
    """An engine for the book at `url` (default: `paths.database_url()`). SQLite: WAL journal (readers
    never wait for the writer; a killed process loses no committed write), `synchronous=NORMAL`
    (durable against a process crash), foreign-key checks on, a 30 s busy timeout, reads through a
    memory map (the OS page cache, shared by every connection and process) and a 64 MiB page cache
    per connection. With `background_checkpoints` (the server, whose leader runs `checkpoint` five
    times a second) a commit copies the log back into the database only once it has grown past
    400 MiB (a backstop for a book without a leader), instead of every 4 MiB: a writer no longer
    checkpoints while it holds the write lock, and the log stays short (docs/benchmarks.md)."""
    url = url or paths.database_url()
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=_json
        )
        pages = 100_000 if background_checkpoints else 1000

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")
            cursor.execute("PRAGMA temp_store=MEMORY")  # sorts of a read's rows
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8, json_serializer=_json)


def beside(engine: Engine, suffix: str) -> str | None:
    """The path of a lock file beside a SQLite book's file (`<book><suffix>`); None for another store
    or a book in memory."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return None
    return f"{Path(database).resolve()}{suffix}"


def checkpoint(engine: Engine) -> None:
    """Copy what the SQLite log holds back into the database without waiting for readers or the
    writer (PASSIVE), so the log starts over instead of growing. PostgreSQL: nothing to do."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the book's schema to `revision` (idempotent)."""
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines say nothing a user needs
    from alembic import command

    with engine.begin() as connection:
        # one process migrates at a time (server workers start together): the others wait for the lock,
        # then find the schema done instead of creating the same tables again
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def healthy(engine: Engine) -> bool:
    """The store answers a query."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # any driver error: the store is not usable now
        return False
