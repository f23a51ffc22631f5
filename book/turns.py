"""Whose turn it is to write: one writer of the book at a time across a server's threads and processes,
and the next one woken as soon as the last commits.

SQLite has one writer; a second one that finds the lock taken waits in SQLite's busy handler, which
polls by sleeping (1, 2, 5 ... then 100 ms at a time), so a waiting process sleeps on for tens of
milliseconds after the lock is free (with `--workers 2` and four clients, ingestion went from 3,488
to 4,109 activities/s once writers stopped sleeping: docs/benchmarks.md). Here threads queue on a
lock and processes on an exclusive `flock` of `<book>.writer` beside the file, both woken by the
release itself; SQLite's own lock still guards every writer that does not take a turn (a CLI load).
Other stores: the thread lock only (PostgreSQL writers take an advisory lock in their transaction)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from funnelcast.book.db import beside

WRITER_LOCK = 0x66756E6E  # PostgreSQL advisory lock key of the book's writers ("funn")


class Turns:
    def __init__(self, engine: Engine):
        self._path = beside(engine, ".writer")
        self._fd: int | None = None
        self._lock = threading.Lock()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this thread's turn to write; it ends when the block does."""
        with self._lock:
            if self._path is None:
                yield
                return
            import fcntl

            if self._fd is None:  # opened in the process that writes (workers are separate processes)
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


@contextmanager
def write_transaction(engine: Engine, turns: Turns) -> Iterator[Connection]:
    """A write transaction in this thread's turn (`turns`, of this engine's book): any other writer
    waits on the database, SQLite's write lock taken at the start (BEGIN IMMEDIATE), a
    transaction-level advisory lock on PostgreSQL; so what it reads before writing stays true until it
    commits."""
    with turns.turn(), engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")
        yield conn
