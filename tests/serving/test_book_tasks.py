"""The server's background work runs a long pass in a child process: waited for without blocking the
event loop, a failure said by exit code or signal, and the child killed when the wait is cancelled."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time

import pytest

from funnelcast.serving.book_tasks import ChildFailed, in_child


def test_a_child_runs_and_its_failure_is_said():
    asyncio.run(in_child(time.sleep, 0))
    with pytest.raises(ChildFailed, match="_exit ended with exit code 3"):
        asyncio.run(in_child(os._exit, 3))
    with pytest.raises(ChildFailed, match="exit code 7"):  # the child's niceness, as asked: 7 - 0 = 7
        asyncio.run(in_child(_exit_with_niceness, os.nice(0), niceness=7))


def _exit_with_niceness(before: int) -> None:
    os._exit(os.nice(0) - before)


def test_a_cancelled_wait_kills_the_child_and_the_loop_stays_free():
    ticks = []

    async def main():
        waiting = asyncio.create_task(in_child(time.sleep, 60))
        for _ in range(20):  # the loop runs while the child sleeps
            await asyncio.sleep(0.1)
            ticks.append(1)
        children = [p for p in multiprocessing.active_children() if p.is_alive()]
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return children

    started = time.monotonic()
    children = asyncio.run(main())
    assert len(ticks) == 20 and time.monotonic() - started < 30  # not the child's 60 s
    assert children and not any(p.is_alive() for p in children)
