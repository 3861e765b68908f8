"""The service in-process: clean SIGTERM (mid-send too), standby takeover, watch -> rebuild."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher import lease
from publisher.config import Config, ImportConfig, SchedulerConfig
from publisher.eventlog import EventLog
from publisher.scheduler import Service
from publisher.store import Store, open_store
from tests.conftest import CORPUS


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "test-key-" + "x" * 32)


def fast(cfg: Config, **imports: Any) -> Config:
    return replace(
        cfg,
        scheduler=SchedulerConfig(lease_seconds=1.0, drain_seconds=60, rebuild_delay_seconds=0.2,
                                  shutdown_seconds=5),
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


def make(cfg: Config, store: Store, name: str) -> tuple[Service, Path]:
    path = cfg.data_dir / "logs" / f"{name}.log"
    return Service(cfg, store, EventLog(path, stream=io.StringIO()), web=False, holder=name), path


def test_sigterm_stops_cleanly_and_hands_the_lease_back(cfg: Config) -> None:
    """SIGTERM: the service stops taking work, releases the lease and returns promptly."""
    cfg = fast(cfg)
    store = open_store(cfg)
    service, log = make(cfg, store, "one")

    async def scenario() -> float:
        task = asyncio.create_task(service.run())
        await until(lambda: service.active, 5)
        os.kill(os.getpid(), signal.SIGTERM)
        started = time.monotonic()
        await asyncio.wait_for(task, 10)
        return time.monotonic() - started

    took = asyncio.run(scenario())
    assert took < 3
    names = [e["event"] for e in events(log)]
    assert names[0] == "start" and "active" in names and "signal" in names
    assert events(log)[-1]["event"] == "stopped" and events(log)[-1]["clean"] is True
    info = lease.current(store)
    assert info is not None and info.holder == "one" and not info.active
    service.log.close()
    store.close()


def test_standby_takes_over_when_the_active_one_dies(store_cfg: Config) -> None:
    """A standby waits while the active one lives, and acts within the lease time of its death."""
    cfg = fast(store_cfg)
    store = open_store(cfg)
    dead = lease.Lease(store, holder="crashed", ttl=1.0)
    assert dead.acquire()  # a process that took the lease and was then SIGKILLed
    service, log = make(cfg, store, "standby")

    async def scenario() -> float:
        task = asyncio.create_task(service.run())
        await until(lambda: any(e["event"] == "standby" for e in events(log)), 5)
        assert not service.active
        took = await until(lambda: service.active, 5)
        service.stop.set()
        await asyncio.wait_for(task, 10)
        return took

    took = asyncio.run(scenario())
    assert took <= 1.0 + 1.0 / 3 + 0.5
    standby = next(e for e in events(log) if e["event"] == "standby")
    assert standby["active_holder"] == "crashed"
    service.log.close()
    store.close()


def test_dropped_dump_is_imported_and_the_site_rebuilt(cfg: Config, tmp_path: Path) -> None:
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
        await until(lambda: service.active, 5)
        shutil.copy(dump, inbox / "new.txt")
        await until(rebuilt_with_articles, 15)
        service.stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    imported = [e for e in events(log) if e["event"] == "job" and e["job"] == "watch"]
    assert imported[0]["counts"]["imported"] == [str(inbox / "new.txt")]
    assert (cfg.site_dir / "kk" / "index.html").is_file()
    assert "duration" in imported[0]
    service.log.close()
    store.close()


def test_sigterm_mid_send_finishes_the_message_in_flight(cfg: Config) -> None:
    """SIGTERM while a digest goes out: the message being sent completes and is recorded as
    sent, the rest wait queued for the next start, and the process is done in seconds."""
    from sqlalchemy import func, select

    from publisher.digest import create_issue
    from publisher.models import Delivery
    from tests.mail_helpers import T0, article, smtp_server, subscriber

    with smtp_server(delay=0.6) as (smtp, port):
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
            await until(lambda: len(smtp.received()) >= 1, 20)
            os.kill(os.getpid(), signal.SIGTERM)
            started = time.monotonic()
            await asyncio.wait_for(task, 15)
            return time.monotonic() - started

        took = asyncio.run(scenario())
        with store.session() as s:
            rows = s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
            states = {state: n for state, n in rows}
        received = sum(smtp.received().values())
    assert took < 3
    assert states.get("sent") == received >= 1
    assert states.get("queued", 0) >= 1 and "sending" not in states
    assert events(log)[-1]["clean"] is True
    service.log.close()
    store.close()
