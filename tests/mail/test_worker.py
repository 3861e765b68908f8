"""Delivery workers: leased claims, heartbeat and status, the shared rate, send --wait, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from publisher.core.config import Config
from publisher.mail.delivery import deliver
from publisher.mail.digest import create_issue
from publisher.mail.worker import Worker, live_count, workers
from publisher.store.engine import Store
from publisher.store.models import Delivery, Subscriber, utcnow
from publisher.store.models import Worker as WorkerRow
from tests.conftest import ROOT
from tests.helpers.mail import article, smtp_server, subscriber

KEY = "test-signing-key"


def prepare(cfg: Config, store: Store, n: int) -> list[str]:
    article(store, "Жаңалық", lang="kk", translations={"ru": "Новость", "en": "News"})
    emails = [f"r{i:03d}@example.org" for i in range(n)]
    for i, email in enumerate(emails):
        subscriber(store, email, ("kk", "ru", "en")[i % 3])
    assert create_issue(cfg, store, "weekly") is not None
    return emails


def smtp_cfg(cfg: Config, port: int, **smtp: Any) -> Config:
    return replace(cfg, mail=replace(cfg.mail, transport="smtp"),
                   smtp=replace(cfg.smtp, host="127.0.0.1", port=port, **smtp))


def states(store: Store) -> dict[str, str]:
    with store.session() as s:
        return dict(s.execute(
            select(Subscriber.email, Delivery.state)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)).all())


@contextmanager
def running(worker: Worker) -> Iterator[threading.Event]:
    """The worker in a thread with its own event loop until the block ends."""
    stop_flag = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        task = asyncio.create_task(worker.run(stop))
        await asyncio.to_thread(stop_flag.wait)
        stop.set()
        await task

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),))
    thread.start()
    try:
        yield stop_flag
    finally:
        stop_flag.set()
        thread.join(30)
        loop.close()


def wait_until(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_dead_workers_expired_batch_is_claimed_again_and_only_unsent_rows_go(
    store_cfg: Config, store: Store
) -> None:
    """A batch claimed by a worker on another machine that died is sent once its lease ran
    out, except the rows it marked sent; a batch still under lease is left alone."""
    emails = prepare(store_cfg, store, 4)
    now = utcnow()
    dead, alive = "other-host:4242:deadbeef:0", "other-host:4343:cafecafe:0"
    with store.session() as s:
        ids = s.scalars(select(Delivery.id).order_by(Delivery.id)).all()
        s.execute(update(Delivery).where(Delivery.id.in_(ids[:3])).values(
            state="sending", claimed_by=dead, claimed_until=now - timedelta(seconds=1)))
        s.execute(update(Delivery).where(Delivery.id == ids[0]).values(
            state="sent", claimed_by="", claimed_until=None, sent_at=now))
        s.execute(update(Delivery).where(Delivery.id == ids[3]).values(
            state="sending", claimed_by=alive, claimed_until=now + timedelta(minutes=5)))
    with smtp_server() as (server, port):
        report = deliver(smtp_cfg(store_cfg, port), store, key=KEY)
        assert report.sent == 2
        assert server.received() == {emails[1]: 1, emails[2]: 1}
    assert states(store)[emails[3]] == "sending"


def test_worker_heartbeat_shows_in_status_and_goes_on_exit(cli: Any, store_cfg: Config,
                                                            store: Store) -> None:
    """A running worker appears in `publisher status` with a fresh heartbeat and what it
    sent; after it stops it is gone from the list."""
    emails = prepare(store_cfg, store, 3)
    cfg = replace(store_cfg, worker=replace(store_cfg.worker, heartbeat_seconds=0.1,
                                            poll_seconds=0.1))
    worker = Worker(cfg, store, key=KEY)
    with running(worker):
        wait_until(lambda: set(states(store).values()) == {"sent"})
        wait_until(lambda: any(w.sent_count == 3 for w in workers(cfg, store)))
        doc = json.loads(cli("status", "--json").stdout)
        (shown,) = doc["workers"]
        assert shown["alive"] and shown["sent"] == 3 and shown["id"] == worker.id
        text = cli("status").stdout
        assert worker.id in text and "alive" in text
    assert worker.report.sent == len(emails)
    assert workers(cfg, store) == []
    assert "none running" in cli("status").stdout


def test_a_heartbeat_still_in_flight_when_the_worker_stops_leaves_no_ghost(
        store_cfg: Config, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A heartbeat whose store write is still running when the worker stops (a slow store)
    does not register the worker again after it has left: no ghost row would show in
    `publisher status` or take a share of the rate from the live workers."""
    import publisher.mail.worker as worker_module

    real = worker_module._beat
    in_flight = threading.Event()

    def slow(*args: Any) -> int:
        in_flight.set()
        time.sleep(0.3)  # the worker is told to stop meanwhile and unregisters
        return real(*args)

    monkeypatch.setattr(worker_module, "_beat", slow)
    cfg = replace(store_cfg, worker=replace(store_cfg.worker, heartbeat_seconds=0.05,
                                            poll_seconds=0.05))
    worker = Worker(cfg, store, key=KEY)
    with running(worker):
        assert in_flight.wait(10)
    time.sleep(0.5)  # the beat has long finished
    assert workers(cfg, store) == []


def test_rate_is_split_between_live_workers(store_cfg: Config, store: Store) -> None:
    """[smtp] rate is the total over all workers: with a second live worker each sends half."""
    if store_cfg.store.url:
        pytest.skip("timing test: one backend is enough")
    prepare(store_cfg, store, 10)
    now = utcnow()
    with store.session() as s:  # another worker, alive elsewhere
        s.add(WorkerRow(id="elsewhere:1:x", host="elsewhere", pid=1, started_at=now,
                        heartbeat_at=now + timedelta(minutes=1), sent_count=0, last_rate=0.0))
    with smtp_server() as (server, port):
        cfg = smtp_cfg(store_cfg, port, rate=20.0, connections=2)
        worker = Worker(cfg, store, key=KEY)
        started = time.monotonic()
        with running(worker):
            wait_until(lambda: sum(server.received().values()) == 10)
            took = time.monotonic() - started
    assert worker.live == 2 and worker.share == 10.0
    assert took >= 0.85  # 10 messages at 10/s; alone at 20/s they would take under 0.5 s
    assert live_count(cfg, store) == 1


def test_send_wait_creates_the_issue_and_follows_the_workers(cli: Any, store_cfg: Config,
                                                              store: Store) -> None:
    """`send --wait` sends nothing itself: it reports once the running worker delivered all."""
    article(store, "Жаңалық", lang="kk", translations={"ru": "Новость", "en": "News"})
    for i, lang in enumerate(("kk", "ru", "en")):
        subscriber(store, f"w{i}@example.org", lang)
    cfg = replace(store_cfg, worker=replace(store_cfg.worker, poll_seconds=0.2))
    worker = Worker(cfg, store, key=KEY)
    cli.env["PUBLISHER_SECRET_KEY"] = KEY
    with running(worker):
        result = cli("send", "--list", "weekly", "--wait", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["created_issue_id"] is not None
    assert (doc["total"], doc["sent"], doc["pending"]) == (3, 3, 0)
    assert worker.report.sent == 3  # the worker delivered, not the send command
    again = cli("send", "--list", "weekly", "--wait")
    assert again.exit_code == 0 and "Nothing new" in again.stdout


@pytest.mark.slow
def test_sigterm_finishes_the_message_in_flight(store_cfg: Config, store: Store) -> None:
    """SIGTERM to `publisher worker`: the message being sent completes and is marked sent,
    the rest stay queued for other workers, and it exits 0 within seconds."""
    if store_cfg.store.url:
        pytest.skip("one backend is enough for the signal test")
    prepare(store_cfg, store, 6)
    with smtp_server(delay=0.8) as (server, port):
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
               "PUBLISHER_DATA_DIR": str(store_cfg.data_dir), "PUBLISHER_SECRET_KEY": KEY,
               "PUBLISHER_MAIL__TRANSPORT": "smtp", "PUBLISHER_SMTP__PORT": str(port)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", "worker", "--concurrency", "1"], env=env,
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: sum(server.attempts.values()) >= 2, 30)  # second one in flight
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert proc.wait(timeout=30) == 0
            # The one message in flight (0.8 s) and a clean exit, not the 4 still queued.
            assert time.monotonic() - started < 10
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        received = sum(server.received().values())
    got = list(states(store).values())
    assert received == 2 and got.count("sent") == 2 and got.count("queued") == 4


def test_run_without_worker_delivers_nothing(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """`publisher run --no-worker` creates issues but leaves delivery to separate workers;
    with its worker (the default) the same service delivers."""
    import io

    from publisher.core.eventlog import EventLog
    from publisher.service.scheduler import Service
    from publisher.store.engine import open_store

    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    cfg = replace(cfg, worker=replace(cfg.worker, poll_seconds=0.1),
                  scheduler=replace(cfg.scheduler, lease_seconds=3.0, shutdown_seconds=5))
    store = open_store(cfg)
    prepare(cfg, store, 3)

    async def run_until(service: Service, done: Callable[[], bool], linger: float = 0) -> None:
        task = asyncio.create_task(service.run())
        started = time.monotonic()
        while not done() and time.monotonic() - started < 60:
            await asyncio.sleep(0.1)
        await asyncio.sleep(linger)
        service.stop.set()
        await asyncio.wait_for(task, 30)

    try:
        quiet = Service(cfg, store, EventLog(None, stream=io.StringIO()), web=False,
                        worker=False)
        # Active, then ten polls of a worker's interval: a built-in worker would have sent.
        asyncio.run(run_until(quiet, lambda: quiet.active, linger=1.0))
        assert set(states(store).values()) == {"queued"}
        busy = Service(cfg, store, EventLog(None, stream=io.StringIO()), web=False)
        asyncio.run(run_until(busy, lambda: set(states(store).values()) == {"sent"}))
        assert set(states(store).values()) == {"sent"}
    finally:
        store.close()
