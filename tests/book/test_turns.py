"""Writers of one SQLite book take turns across threads and processes (`funnelcast.book.turns`)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from funnelcast.book.db import engine_for
from funnelcast.book.turns import Turns


def _writer(url: str, log: str, n: int) -> None:
    turns = Turns(engine_for(url))

    def one_thread() -> None:
        for _ in range(n):
            with turns.turn():
                start = time.monotonic()
                time.sleep(0.01)  # a writer holding its turn
                with open(log, "a") as f:
                    f.write(f"{start} {time.monotonic()}\n")

    threads = [threading.Thread(target=one_thread) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def test_turns_never_overlap_across_threads_and_processes(tmp_path):
    url, log = f"sqlite:///{tmp_path / 'book.db'}", str(tmp_path / "turns.log")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, log, 8)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    spans = sorted(tuple(map(float, line.split())) for line in Path(log).read_text().splitlines())
    assert len(spans) == 3 * 2 * 8
    overlaps = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
    assert not overlaps, overlaps[:3]
    assert (tmp_path / "book.db.writer").exists()


def test_a_book_in_memory_takes_turns_between_threads_only(tmp_path):
    turns = Turns(engine_for("sqlite:///:memory:"))
    inside, most = [0], [0]

    def writer() -> None:
        for _ in range(20):
            with turns.turn():
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                time.sleep(0.001)
                inside[0] -= 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert most[0] == 1
    assert not list(tmp_path.iterdir())
