"""Which process of a server does the book's background work (the re-score queue, the clock and model
passes, webhook deliveries, checkpoints): with `funnelcast serve --workers N` every worker would
otherwise do it, so an hourly clock pass over the whole book ran N times. The first worker to take a
lock holds it while it lives; the others try again now and then and take over when it dies (the
operating system or the database drops a dead holder's lock).

SQLite: an exclusive `flock` on `<book>.leader` beside the file. PostgreSQL: a session advisory lock
held by one connection. Any other store (in memory): every process leads."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine

LEADER_LOCK = 0x66756E6C  # PostgreSQL advisory lock key ("funl")


class Leadership:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._fd: int | None = None
        self._conn = None
        self.held = False

    def try_take(self) -> bool:
        """Take the lock if it is free (never waits); True while this process holds it."""
        if self.held:
            return True
        name = self.engine.dialect.name
        if name == "sqlite":
            database = self.engine.url.database
            if not database or database == ":memory:":
                self.held = True
                return True
            import fcntl

            fd = os.open(f"{Path(database).resolve()}.leader", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd, self.held = fd, True
        elif name == "postgresql":
            conn = self.engine.connect()
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({LEADER_LOCK})").scalar()
            conn.commit()
            if not got:
                conn.close()
                return False
            self._conn, self.held = conn, True
        else:
            self.held = True
        return self.held

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
        if self._conn is not None:  # unlocked, and the connection dropped rather than pooled with it
            try:
                self._conn.exec_driver_sql(f"SELECT pg_advisory_unlock({LEADER_LOCK})")
            finally:
                self._conn.invalidate()
                self._conn.close()
        self._fd, self._conn, self.held = None, None, False
