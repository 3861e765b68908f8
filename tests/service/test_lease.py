"""One active scheduler per store: the lease row (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from publisher.service import lease
from publisher.service.lease import Lease
from publisher.store.engine import Store


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_only_one_holder_until_the_lease_expires(store: Store) -> None:
    """A second scheduler waits while the first heartbeats, and takes over once it stops."""
    clock = FakeClock()
    first = Lease(store, holder="a", ttl=30, clock=clock)
    second = Lease(store, holder="b", ttl=30, clock=clock)
    assert first.acquire() is True
    assert second.acquire() is False
    for _ in range(5):  # heartbeats keep it: 5 x 20 s is far beyond one ttl
        clock.advance(20)
        assert first.acquire() is True
        assert second.acquire() is False
    clock.advance(31)  # the first died: no heartbeat for longer than the ttl
    assert second.acquire() is True
    assert first.acquire() is False  # a stalled first one finds it taken and must stand down
    info = lease.current(store, clock=clock)
    assert info is not None and info.holder == "b" and info.active


def test_release_hands_over_at_once(store: Store) -> None:
    """A clean shutdown gives the lease up, so the standby need not wait for it to expire."""
    clock = FakeClock()
    first = Lease(store, holder="a", ttl=30, clock=clock)
    second = Lease(store, holder="b", ttl=30, clock=clock)
    assert first.acquire()
    first.release()
    clock.advance(0.001)
    assert second.acquire()
    second.release()  # releasing the other's lease is a no-op for a non-holder
    first.release()
    clock.advance(0.001)
    info = lease.current(store, clock=clock)
    assert info is not None and info.holder == "b" and not info.active


def test_racing_standbys_elect_exactly_one(store: Store) -> None:
    """Eight processes racing for a free lease: exactly one wins, every time."""
    for rnd in range(3):
        barrier = threading.Barrier(8)
        results: dict[str, bool] = {}

        # A lease of its own per round, with a ttl no stall of a loaded machine can outlast:
        # the race is about the conditional UPDATE, not about expiry.
        def race(name: str, barrier: threading.Barrier, results: dict[str, bool]) -> None:
            barrier.wait()
            lease_name = "race-" + name.split("-")[0]
            results[name] = Lease(store, name=lease_name, holder=name, ttl=120).acquire()

        threads = [
            threading.Thread(target=race, args=(f"r{rnd}-{i}", barrier, results)) for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(results.values()) == 1, results


def test_real_clock_takeover_after_expiry(store: Store) -> None:
    """With the real (database) clock a dead holder's lease is free after its ttl, not before."""
    started = time.monotonic()
    assert Lease(store, holder="dead", ttl=3).acquire()
    standby = Lease(store, holder="standby", ttl=30)
    assert not standby.acquire()
    while not standby.acquire():
        assert time.monotonic() - started < 30, "the expired lease was never taken over"
        time.sleep(0.1)
    # Measured from before the dead holder's acquire, so load can only make this longer.
    assert time.monotonic() - started >= 2.9
