"""The service in-process: clean SIGTERM (mid-send too), standby takeover, watch -> rebuild."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.core.config import Config, ImportConfig, SchedulerConfig
from publisher.core.eventlog import EventLog
from publisher.service import lease
from publisher.service.scheduler import Service
from publisher.store.engine import Store, open_store
from tests.conftest import CORPUS


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "test-key-" + "x" * 32)


# A lease of seconds (heartbeat every second): a loaded 2-core machine can stall a thread for
# a good part of a second, and a stall longer than the lease hands it to a standby.
LEASE = 3.0


def fast(cfg: Config, **imports: Any) -> Config:
    return replace(
        cfg,
        scheduler=SchedulerConfig(lease_seconds=LEASE, drain_seconds=60,
                                  rebuild_delay_seconds=0.2, shutdown_seconds=5),
        imports=ImportConfig(**imports) if imports else cfg.imports,
    )


def events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def until(check: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


Make = Callable[[Config, Store, str], tuple[Service, Path]]


@pytest.fixture
def make() -> Iterator[Make]:
    """Builds a service logging to data_dir/logs/NAME.log; its log and store are closed at the
    end of the test whatever its outcome, so no open file leaks into the next test."""
    made: list[tuple[Service, Store]] = []

    def build(cfg: Config, store: Store, name: str) -> tuple[Service, Path]:
        path = cfg.data_dir / "logs" / f"{name}.log"
        service = Service(cfg, store, EventLog(path, stream=io.StringIO()), web=False,
                          holder=name)
        made.append((service, store))
        return service, path

    yield build
    for service, store in made:
        service.log.close()
        store.close()


def test_sigterm_stops_cleanly_and_hands_the_lease_back(cfg: Config, make: Make) -> None:
    """SIGTERM: the service stops taking work, releases the lease and returns promptly."""
    cfg = fast(cfg)
    store = open_store(cfg)
    service, log = make(cfg, store, "one")

    async def scenario() -> float:
        task = asyncio.create_task(service.run())
        await until(lambda: service.active, 30)
        os.kill(os.getpid(), signal.SIGTERM)
        started = time.monotonic()
        await asyncio.wait_for(task, 30)
        return time.monotonic() - started

    took = asyncio.run(scenario())
    # Promptly: within [scheduler] shutdown_seconds, not after the 60 s drain interval.
    assert took < cfg.scheduler.shutdown_seconds
    names = [e["event"] for e in events(log)]
    assert names[0] == "start" and "active" in names and "signal" in names
    assert events(log)[-1]["event"] == "stopped" and events(log)[-1]["clean"] is True
    info = lease.current(store)
    assert info is not None and info.holder == "one" and not info.active


def test_standby_takes_over_when_the_active_one_dies(store_cfg: Config, make: Make) -> None:
    """A standby waits while the active one lives, and acts within the lease time of its death."""
    cfg = fast(store_cfg)
    store = open_store(cfg)
    dead = lease.Lease(store, holder="crashed", ttl=LEASE)
    assert dead.acquire()  # a process that took the lease and was then SIGKILLed
    died = time.monotonic()
    service, log = make(cfg, store, "standby")

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        await until(lambda: any(e["event"] == "standby" for e in events(log)), 30)
        assert not service.active
        await until(lambda: service.active, 60)
        service.stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    took = time.monotonic() - died
    # Not before the dead holder's lease ran out; within that plus one standby poll
    # (lease / 3), with seconds to spare for a loaded machine.
    assert LEASE - 0.1 <= took <= LEASE + LEASE / 3 + 5
    standby = next(e for e in events(log) if e["event"] == "standby")
    assert standby["active_holder"] == "crashed"


def test_dropped_dump_is_imported_and_the_site_rebuilt(
    cfg: Config, tmp_path: Path, make: Make
) -> None:
    """A dump dropped into the watch folder shows up on the built site without any command."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cfg = fast(cfg, watch=[str(inbox)], poll_seconds=0.2)
    store = open_store(cfg)
    service, log = make(cfg, store, "watcher")
    dump = sorted(CORPUS.glob("*.txt"))[0]

    def rebuilt_with_articles() -> bool:
        return any(e["event"] == "job" and e["job"] == "rebuild" and e["counts"]["articles"] > 0
                   for e in events(log))

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        await until(lambda: service.active, 30)
        shutil.copy(dump, inbox / "new.txt")
        await until(rebuilt_with_articles, 60)
        service.stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    imported = [e for e in events(log) if e["event"] == "job" and e["job"] == "watch"]
    assert imported[0]["counts"]["imported"] == [str(inbox / "new.txt")]
    assert (cfg.site_dir / "kk" / "index.html").is_file()
    assert "duration" in imported[0]


def test_sigterm_mid_send_finishes_the_message_in_flight(cfg: Config, make: Make) -> None:
    """SIGTERM while a digest goes out: the message being sent completes and is recorded as
    sent, the rest wait queued for the next start, and the process is done in seconds."""
    from sqlalchemy import func, select

    from publisher.mail.digest import create_issue
    from publisher.store.models import Delivery
    from tests.helpers.mail import T0, article, smtp_server, subscriber

    # Each answer takes 1 s: sending the 5 messages after the one in flight would take 5 s.
    with smtp_server(delay=1.0) as (smtp, port):
        cfg = replace(fast(cfg), mail=replace(cfg.mail, transport="smtp"),
                      smtp=replace(cfg.smtp, port=port, connections=1))
        store = open_store(cfg)
        for i in range(6):
            subscriber(store, f"reader{i}@example.kz", "kk")
        article(store, "Университетте жаңа зертхана ашылды", at=T0)
        assert create_issue(cfg, store, "weekly", now=T0 + timedelta(hours=1)) is not None
        service, log = make(cfg, store, "sender")

        async def scenario() -> float:
            task = asyncio.create_task(service.run())
            await until(lambda: len(smtp.received()) >= 1, 60)
            os.kill(os.getpid(), signal.SIGTERM)
            started = time.monotonic()
            await asyncio.wait_for(task, 30)
            return time.monotonic() - started

        took = asyncio.run(scenario())
        with store.session() as s:
            rows = s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
            states = {state: n for state, n in rows}
        received = sum(smtp.received().values())
    assert took < cfg.scheduler.shutdown_seconds
    assert states.get("sent") == received >= 1
    assert states.get("queued", 0) >= 1 and "sending" not in states
    assert events(log)[-1]["clean"] is True
