"""Delivery workers: any number of processes, on any number of machines, sharing one store.

A worker registers a row in `workers` and renews its heartbeat there; between heartbeats
it drains due deliveries in leased batches (publisher.delivery). Nothing else is shared:
the scheduler creates issues, workers deliver them, and a worker that dies loses only its
leases (its unsent rows are claimed again when they expire, at once on the same host).

Rate limit across workers: [smtp] rate is the total over all workers. Each worker sends
at rate / (number of live workers), recounted every heartbeat, so the total holds within
one heartbeat of a worker joining or dying without a write per message in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from publisher.core.config import Config
from publisher.core.console import progress, warn
from publisher.core.eventlog import EventLog
from publisher.mail.delivery import Job, SendReport, claimer_id, drain
from publisher.mail.transport import Outcome, SmtpTransport, Transport, open_transport
from publisher.store.models import Delivery, utcnow
from publisher.store.models import Worker as WorkerRow

log = logging.getLogger("publisher.worker")

# A worker whose heartbeat is older than this many heartbeat intervals counts as gone.
MISSED_BEATS = 3
# Rows of workers gone longer than this are removed when a worker starts.
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    sent_count: int
    last_rate: float
    alive: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "host": self.host, "pid": self.pid, "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at, "sent": self.sent_count,
            "messages_per_second": round(self.last_rate, 1), "alive": self.alive,
        }


def _horizon(cfg: Config, now: datetime) -> datetime:
    return now - timedelta(seconds=cfg.worker.heartbeat_seconds * MISSED_BEATS)


def workers(cfg: Config, store: Any, now: datetime | None = None) -> list[WorkerInfo]:
    """Every registered worker, newest heartbeat first, with whether it still beats."""
    now = now or utcnow()
    horizon = _horizon(cfg, now)
    with store.session() as s:
        rows = s.scalars(select(WorkerRow).order_by(WorkerRow.heartbeat_at.desc())).all()
    return [WorkerInfo(r.id, r.host, r.pid, r.started_at, r.heartbeat_at, r.sent_count,
                       r.last_rate, r.heartbeat_at >= horizon) for r in rows]


def live_count(cfg: Config, store: Any, now: datetime | None = None) -> int:
    now = now or utcnow()
    with store.session() as s:
        return int(s.scalar(
            select(func.count()).select_from(WorkerRow)
            .where(WorkerRow.heartbeat_at >= _horizon(cfg, now))
        ) or 0)


def _register(store: Any, worker_id: str, now: datetime) -> None:
    with store.session() as s:
        s.execute(delete(WorkerRow).where(WorkerRow.heartbeat_at < now - FORGET_AFTER))
    with store.session() as s:
        s.add(WorkerRow(id=worker_id, host=socket.gethostname()[:255], pid=os.getpid(),
                        started_at=now, heartbeat_at=now, sent_count=0, last_rate=0.0))


def _beat(cfg: Config, store: Any, worker_id: str, sent: int, rate: float) -> int:
    """Record the heartbeat; returns the number of live workers (this one included)."""
    now = utcnow()
    with store.session() as s:
        found = s.execute(
            update(WorkerRow).where(WorkerRow.id == worker_id)
            .values(heartbeat_at=now, sent_count=sent, last_rate=rate)
        )
    if not getattr(found, "rowcount", 0):  # pruned while this worker was cut off: back again
        _register(store, worker_id, now)
    return max(1, live_count(cfg, store, now))


def _unregister(store: Any, worker_id: str) -> None:
    with store.session() as s:
        s.execute(delete(WorkerRow).where(WorkerRow.id == worker_id))


class Worker:
    """One delivery worker: `await worker.run(stop)` until `stop` is set.

    Stopping lets every message already handed to an SMTP connection finish and be
    recorded; rows claimed but not yet started are given back at once.
    """

    def __init__(
        self, cfg: Config, store: Any, *, concurrency: int | None = None, key: str | None = None,
        worker_id: str | None = None, events: EventLog | None = None,
    ) -> None:
        conns = concurrency or cfg.worker.concurrency or cfg.smtp.connections
        self.cfg = replace(cfg, smtp=replace(cfg.smtp, connections=max(1, conns)))
        self.store = store
        self.key = key
        self.id = worker_id or claimer_id()
        self.events = events
        self.sent = 0
        self.report = SendReport()
        self.live = 1
        self.errors = 0  # delivery rounds that failed and were retried
        self.last_error = ""
        self._wake = asyncio.Event()
        # A heartbeat's store write runs in a thread that cancelling its task does not stop:
        # leaving takes this lock and marks the worker gone, so a write still running ends
        # first and a later one does nothing (it would register the worker again, a ghost
        # that shows in `publisher status` and takes a share of the rate).
        self._store_lock = threading.Lock()
        self._gone = False

    @property
    def share(self) -> float:
        """This worker's part of [smtp] rate (0: unlimited)."""
        return self.cfg.smtp.rate / self.live if self.cfg.smtp.rate > 0 else 0.0

    def wake(self) -> None:
        """Look for due deliveries now (a new issue was created), not at the next poll."""
        self._wake.set()

    def _event(self, name: str, level: str = "info", **fields: Any) -> None:
        if self.events is not None:
            self.events.event(name, level=level, worker=self.id, **fields)

    def _count(self, job: Job, outcome: Outcome) -> None:
        if outcome.kind == "accepted":
            self.sent += 1

    async def _heartbeat(self, tx: Transport) -> None:
        every = max(self.cfg.worker.heartbeat_seconds, 0.05)
        last_sent, last_t = self.sent, time.monotonic()
        while True:
            await asyncio.sleep(every)
            now_t = time.monotonic()
            rate = (self.sent - last_sent) / (now_t - last_t)
            last_sent, last_t = self.sent, now_t
            try:
                live = await asyncio.to_thread(self._beat_unless_gone, rate)
            except SQLAlchemyError as exc:
                self._event("worker_heartbeat_failed", level="warning",
                            error=str(exc).splitlines()[0])
                continue
            if live != self.live:
                self.live = live
                if isinstance(tx, SmtpTransport):
                    tx.limiter.set_rate(self.share)
                self._event("worker_share", live_workers=live, rate=self.share or None)

    async def run(self, stop: asyncio.Event) -> SendReport:
        started = time.monotonic()
        now = utcnow()
        await asyncio.to_thread(_register, self.store, self.id, now)
        self.live = max(1, await asyncio.to_thread(live_count, self.cfg, self.store, now))
        cfg = replace(self.cfg, smtp=replace(self.cfg.smtp, rate=self.share))
        tx = open_transport(cfg)
        self._event("worker_start", concurrency=tx.connections, store=self.store.url,
                    live_workers=self.live, rate=self.share or None)
        beating = asyncio.create_task(self._heartbeat(tx))
        try:
            while not stop.is_set():
                self._wake.clear()
                cfg = replace(self.cfg, smtp=replace(self.cfg.smtp, rate=self.share))
                try:
                    part = await drain(cfg, self.store, stop=stop, transport=tx, key=self.key,
                                       claimer=self.id, on_result=self._count)
                except Exception as exc:
                    # A store that went away, a refused login, a bug: answers already given
                    # are recorded (drain flushes first), so the worker lives on and tries
                    # again after a poll interval instead of leaving the queue unserved.
                    self.errors += 1
                    self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                    log.exception("worker %s: delivery round failed", self.id)
                    self._event("worker_error", level="error", error=self.last_error,
                                errors=self.errors)
                    await _wait_any(stop, self._wake, self.cfg.worker.poll_seconds)
                    continue
                self._add(part)
                if part.issues or part.cancelled:
                    self._event("worker_drain", **part.as_dict())
                    continue  # more may have become due while this batch went out
                await _wait_any(stop, self._wake, self.cfg.worker.poll_seconds)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            await tx.close()
            with contextlib.suppress(SQLAlchemyError):
                await asyncio.to_thread(self._leave)
            self.report.duration = time.monotonic() - started
            self._event("worker_stop", sent=self.report.sent,
                        duration=round(self.report.duration, 3))
        return self.report

    def _beat_unless_gone(self, rate: float) -> int:
        with self._store_lock:
            if self._gone:
                return self.live
            return _beat(self.cfg, self.store, self.id, self.sent, rate)

    def _leave(self) -> None:
        with self._store_lock:
            self._gone = True
            _unregister(self.store, self.id)

    def _add(self, part: SendReport) -> None:
        for name in ("sent", "deferred", "failed", "bounced", "cancelled", "possibly_delivered"):
            setattr(self.report, name, getattr(self.report, name) + getattr(part, name))
        self.report.issues = sorted(set(self.report.issues) | set(part.issues))
        self.report.failures = (self.report.failures + part.failures)[-100:]


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


def run_worker(
    cfg: Config, store: Any, *, concurrency: int | None = None, key: str | None = None,
    events: EventLog | None = None, on_start: Callable[[Worker], None] | None = None,
) -> SendReport:
    """`publisher worker`: run until SIGTERM/SIGINT, then finish the messages in flight."""

    async def main() -> SendReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            worker = Worker(cfg, store, concurrency=concurrency, key=key, events=events)
            if on_start is not None:
                on_start(worker)
            return await worker.run(stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


def issue_states(store: Any, issue_ids: list[int]) -> dict[str, int]:
    """Deliveries of these issues per state."""
    if not issue_ids:
        return {}
    with store.session() as s:
        return {state: int(n) for state, n in s.execute(
            select(Delivery.state, func.count())
            .where(Delivery.issue_id.in_(issue_ids)).group_by(Delivery.state)
        )}


def follow(
    cfg: Config, store: Any, issue_ids: list[int], *, show_progress: bool = False,
    poll: float = 0.5, timeout: float | None = None,
) -> dict[str, Any]:
    """Wait while workers deliver: until no delivery of these issues is queued or sending.

    Deferred rows (4xx) are retried by the workers on their backoff schedule; waiting for
    them could take [smtp] retry_lifetime_hours, so they count as answered here.
    """
    started = time.monotonic()
    states = issue_states(store, issue_ids)
    total = sum(states.values())
    sent_before = states.get("sent", 0)
    if total and not live_count(cfg, store):
        warn("no delivery worker is running: start `publisher worker` (or `publisher run`); "
             "waiting for one")
    with progress("Delivering", total or None, show_progress) as bar:
        shown = 0
        while True:
            pending = states.get("queued", 0) + states.get("sending", 0)
            answered = total - pending
            bar.advance(answered - shown, note=f"{states.get('sent', 0)} sent, "
                        f"{live_count(cfg, store)} worker(s)")
            shown = answered
            if not pending:
                break
            if timeout is not None and time.monotonic() - started > timeout:
                break
            time.sleep(poll)
            states = issue_states(store, issue_ids)
    waited = time.monotonic() - started
    newly = states.get("sent", 0) - sent_before
    return {
        "issues": issue_ids, "total": total,
        **{k: states.get(k, 0) for k in ("sent", "deferred", "failed", "bounced", "cancelled")},
        "pending": states.get("queued", 0) + states.get("sending", 0),
        "waited_seconds": round(waited, 3),
        "messages_per_second": round(newly / waited, 1) if waited > 0 else 0.0,
    }
