"""One worker of a server does the book's background work: the first process to take the lock holds
it while it lives, another takes over when it dies (SQLite flock, PostgreSQL advisory lock)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

from funnelcast.book.db import engine_for, migrate
from funnelcast.book.leader import Leadership


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
