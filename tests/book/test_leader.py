"""One worker of a server does the book's background work: the first process to take the lock holds
it while it lives, another takes over when it dies (SQLite flock, PostgreSQL advisory lock)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest
from sqlalchemy import text

from funnelcast.book import leader as leader_module
from funnelcast.book.db import engine_for, migrate
from funnelcast.book.leader import LEADER_LOCK, Leadership


def _hold(url: str, taken) -> None:
    leader = Leadership(engine_for(url))
    taken.put(leader.try_take())
    time.sleep(120)  # until killed


def test_one_process_leads_and_another_takes_over_when_it_dies(book_url):
    migrate(engine_for(book_url))
    context = multiprocessing.get_context("spawn")
    taken = context.Queue()
    holder = context.Process(target=_hold, args=(book_url, taken))
    holder.start()
    try:
        assert taken.get(timeout=60) is True
        other = Leadership(engine_for(book_url))
        assert other.try_take() is False and other.try_take() is False  # asked again: still held
        os.kill(holder.pid, signal.SIGKILL)  # the leader dies without releasing anything
        holder.join(timeout=30)
        assert other.try_take() is True
        third = Leadership(engine_for(book_url))
        assert third.try_take() is False
        other.release()
        assert third.try_take() is True
        third.release()
    finally:
        if holder.is_alive():
            holder.kill()


@pytest.mark.parametrize("book_url", ["postgresql"], indirect=True)  # an flock lasts while its process does
def test_a_postgresql_leader_whose_session_ended_stops_leading(book_url, monkeypatch):
    monkeypatch.setattr(leader_module, "CHECK_SECONDS", 0.0)  # check at every call, not every 5 s
    migrate(engine_for(book_url))
    first, second = Leadership(engine_for(book_url)), Leadership(engine_for(book_url))
    assert first.try_take() is True and second.try_take() is False
    with engine_for(book_url).connect() as conn:  # the database ends the leader's session, as a restart does
        ended = conn.execute(  # with a timeout, it returns once the session has ended and let go of its locks
            text(
                "SELECT pg_terminate_backend(pid, 30000) FROM pg_locks"
                " WHERE locktype = 'advisory' AND objid = :k"
            ),
            {"k": LEADER_LOCK},
        ).scalars()
        assert list(ended) == [True]
    assert second.try_take() is True  # the lock was free
    assert first.try_take() is False  # and the first knows it no longer leads: one leader, not two
    second.release()
    assert first.try_take() is True  # it takes the lock again once free
    first.release()
