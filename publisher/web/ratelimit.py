"""In-process sliding-window rate limits (per IP, per address) for the web endpoints.

Counts live in memory: each `publisher serve` process limits on its own, which is enough
to stop a flood from one client and keeps the store free of write traffic from bots.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most `limit` hits per `window` seconds per key."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> float | None:
        """Record a hit; None if allowed, else the seconds until the next one would be."""
        now = self.clock()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(hits[0] + self.window - now, 0.0)
        hits.append(now)
        return None

    def _prune(self, now: float) -> None:
        # A flood of distinct keys must not grow memory without bound: drop idle keys, and
        # if all are busy, the oldest half (they are the least likely to hit again soon).
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
        if len(self._hits) >= self.max_keys:
            for key in sorted(self._hits, key=lambda k: self._hits[k][-1])[: self.max_keys // 2]:
                del self._hits[key]
