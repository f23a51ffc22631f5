"""Per-caller rate limits: a token bucket per API key (per client address when no keys are set).

Hand-written rather than a library (slowapi, limits): it is checked on the event loop for every
request, needs no storage backend for one process, and is twenty lines."""

from __future__ import annotations

import time


class TokenBuckets:
    """`rate` tokens per second up to `burst` per caller; each request takes one."""

    def __init__(self, rate: float, burst: int, max_callers: int = 100_000):
        self.rate, self.burst, self.max_callers = rate, float(burst), max_callers
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, when)

    def take(self, caller: str, now: float | None = None) -> float:
        """0.0 when the request may go ahead, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, when = self._buckets.get(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - when) * self.rate)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= self.max_callers and caller not in self._buckets:
            self._forget_full(now)
        self._buckets[caller] = (tokens - 1.0, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop the callers whose bucket has refilled (they lose nothing); bounds memory under a
        flood of client addresses."""
        full = [c for c, (t, w) in self._buckets.items() if t + (now - w) * self.rate >= self.burst]
        for c in full:
            del self._buckets[c]
