"""Which process of a server does the book's background work (the re-score queue, the clock and model
passes, webhook deliveries, checkpoints): with `funnelcast serve --workers N` every worker would
otherwise do it, so an hourly clock pass over the whole book ran N times. The first worker to take a
lock holds it while it lives; the others try again now and then and take over when it dies (the
operating system or the database drops a dead holder's lock).

SQLite: an exclusive `flock` on `<book>.leader` beside the file. PostgreSQL: a session advisory lock
held by one connection, which the leader checks every few seconds (a restarted database ends the
session and frees the lock: the old leader then stops leading instead of leading beside a new one).
Any other store (in memory): every process leads."""

from __future__ import annotations

import os
import time

from sqlalchemy import Engine

from funnelcast.book.db import beside

LEADER_LOCK = 0x66756E6C  # PostgreSQL advisory lock key ("funl")
CHECK_SECONDS = 5.0  # how often a PostgreSQL leader checks that its session still holds the lock


class Leadership:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._fd: int | None = None
        self._conn = None
        self._checked = 0.0
        self.held = False

    def try_take(self) -> bool:
        """Take the lock if it is free (never waits); True while this process holds it. A PostgreSQL
        leader checks now and then that its session still holds the lock: a restarted database or a
        terminated session drops it, and another worker may have taken it since."""
        if self.held and self._conn is not None and time.monotonic() >= self._checked + CHECK_SECONDS:
            self._checked = time.monotonic()
            if not self._still_held():
                self.release()
        if self.held:
            return True
        name = self.engine.dialect.name
        if name == "sqlite":
            path = beside(self.engine, ".leader")
            if path is None:  # a book in memory lives in one process
                self.held = True
                return True
            import fcntl

            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
            self._conn, self.held, self._checked = conn, True, time.monotonic()
        else:
            self.held = True
        return self.held

    def _still_held(self) -> bool:
        try:
            held = self._conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                f" AND objid = {LEADER_LOCK} AND pid = pg_backend_pid()"
            ).scalar()
            self._conn.commit()
            return bool(held)
        except Exception:  # the session is gone (a restarted or unreachable database)
            return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
        if self._conn is not None:  # unlocked, and the connection dropped rather than pooled with it
            try:
                self._conn.exec_driver_sql(f"SELECT pg_advisory_unlock({LEADER_LOCK})")
            except Exception:  # a session already gone holds nothing
                pass
            finally:
                self._conn.invalidate()
                self._conn.close()
        self._fd, self._conn, self.held = None, None, False
