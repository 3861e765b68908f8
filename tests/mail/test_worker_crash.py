"""Several `publisher worker` processes deliver one issue while one is SIGKILLed mid-batch and
another starts late: every recipient gets exactly one message (PostgreSQL: 4 workers, 20,000
recipients; SQLite: 2 workers at a time, 1,500 recipients)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func, insert, select

from publisher.core import config
from publisher.mail.digest import create_issue
from publisher.store.engine import Store, open_store
from publisher.store.models import Delivery, Subscriber, Subscription
from publisher.subscribers.registry import ensure_list
from tests.conftest import PG_URL, ROOT, _pg_database
from tests.helpers.mail import T0, article, smtp_server, wait_for

pytestmark = pytest.mark.slow
KEY = "worker-test-" + "k" * 32


class CountingServer:
    """Counts accepted messages per recipient (no bodies kept: 20,000 digests are big).

    `hold(pid)`: from now on every DATA of that process's connections waits without an
    answer (nothing recorded), as a relay does while a client dies mid-transaction; it
    returns the recipients accepted so far, from any process.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.held = 0
        self._victim: int | None = None
        self.port = 0  # the server's

    def hold(self, pid: int) -> list[str]:
        # Under the lock every answer takes: each message is either answered before the
        # hold, and in the list, or looked at after it.
        with self.lock:
            self._victim = pid
            return list(self.counts)

    def _is_victim(self, session: Any) -> bool:
        if self._victim is None:
            return False
        # Decided once per connection, by which process holds its client end: not by port,
        # which a live worker's new connection can reuse once the victim is dead (loopback
        # reuses a port in TIME_WAIT at once), and not by the victim's own list of sockets,
        # which is empty once it is killed while its last commands still wait to be read.
        if getattr(session, "victim", None) is None:
            port = session.peer[1]
            owner = next((c.pid for c in psutil.net_connections(kind="tcp")
                          if c.laddr and c.laddr.port == port and c.raddr
                          and c.raddr.port == self.port), None)
            session.victim = owner is None or owner == self._victim  # no owner: a dead one
        return bool(session.victim)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            held = self._is_victim(session)
            if held:
                self.held += 1
            else:
                for rcpt in envelope.rcpt_tos:
                    self.counts[rcpt] += 1
                self.total += 1
        if held:
            await asyncio.sleep(3600)  # cancelled when the killed client's connection drops
            return "451 4.3.0 not accepted"
        return "250 2.0.0 Queued"


@contextmanager
def counting_server() -> Iterator[tuple[CountingServer, int]]:
    with smtp_server(handler=CountingServer()) as (server, port):
        server.port = port
        yield server, port


def populate(store: Store, cfg: config.Config, n: int) -> list[str]:
    """One article, `n` active subscribers of the weekly list, and the issue for them."""
    article(store, "Жаңа зертхана ашылды", lang="kk",
            translations={"ru": "Открылась новая лаборатория", "en": "A new laboratory opens"})
    before = T0 - timedelta(days=1)
    with store.session() as s:
        list_id = ensure_list(s, "weekly", before).id
        first = (s.scalar(select(func.max(Subscriber.id))) or 0) + 1
    emails = [f"reader{i:05d}@example.org" for i in range(n)]
    for start in range(0, n, 5000):
        chunk = range(start, min(n, start + 5000))
        with store.session() as s:
            s.execute(insert(Subscriber), [{
                "id": first + i, "email": emails[i], "name": f"Reader {i}",
                "language": ("kk", "ru", "en")[i % 3], "timezone": "Asia/Almaty",
                "status": "active", "token_id": secrets.token_hex(16), "created_at": before,
                "updated_at": before, "confirmed_at": before,
            } for i in chunk])
            s.execute(insert(Subscription), [{
                "subscriber_id": first + i, "list_id": list_id, "status": "active",
                "cursor": before, "created_at": before, "updated_at": before,
            } for i in chunk])
    assert create_issue(cfg, store, "weekly") is not None
    return emails


@dataclass
class Scenario:
    recipients: int
    at_start: int
    kill_at: int  # messages received before the victim is frozen and killed
    late_at: int  # messages received before the late worker starts


def run_scenario(cfg: config.Config, sc: Scenario) -> None:
    store = open_store(cfg)
    emails = populate(store, cfg, sc.recipients)
    procs: list[subprocess.Popen[bytes]] = []
    with counting_server() as (smtp, port):
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
               "PUBLISHER_DATA_DIR": str(cfg.data_dir), "PUBLISHER_SECRET_KEY": KEY,
               "PUBLISHER_MAIL__TRANSPORT": "smtp", "PUBLISHER_SMTP__PORT": str(port),
               "PUBLISHER_WORKER__HEARTBEAT_SECONDS": "1", "PUBLISHER_WORKER__POLL_SECONDS": "0.3",
               "PUBLISHER_WORKER__CLAIM_SECONDS": "20"}
        if cfg.store.url:
            env["PUBLISHER_STORE__URL"] = cfg.store.url

        def start() -> subprocess.Popen[bytes]:
            with open(cfg.data_dir / f"worker{len(procs)}.log", "wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "publisher", "worker", "--concurrency", "4"],
                    env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                )
            procs.append(proc)
            return proc

        def logs() -> str:
            return "\n".join(p.read_text(encoding="utf-8", errors="replace")[-3000:]
                             for p in sorted(cfg.data_dir.glob("worker*.log")))

        try:
            victim = start()
            for _ in range(sc.at_start - 1):
                start()
            wait_for(lambda: smtp.total >= sc.kill_at, 120, "the first messages")
            # Freeze the victim's SMTP transactions, wait until every message answered so far
            # is recorded (the victim's among them), then kill it: it dies holding a claimed
            # batch with messages in flight. (A message answered but not recorded when its
            # worker dies is sent again: the crash window the ledger documents, which this
            # test is not about; the fixed pause used before left it open under load.)
            answered = smtp.hold(victim.pid)
            wait_for(lambda: smtp.held >= 1, 30, "the victim to be mid-transaction")
            wait_for(lambda: _sent(store, answered) == len(answered), 120,
                     "every message answered to be recorded")
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            prefix = f"{socket.gethostname()[:32]}:{victim.pid}:"
            with store.session() as s:
                orphaned = s.scalar(select(func.count()).select_from(Delivery).where(
                    Delivery.state == "sending", Delivery.claimed_by.startswith(prefix)))
            assert orphaned, "the victim should die holding claimed, unsent deliveries"
            wait_for(lambda: smtp.total >= sc.late_at, 300, "delivery to continue")
            late = start()
            late_log = cfg.data_dir / f"worker{len(procs) - 1}.log"
            wait_for(lambda: smtp.total >= sc.recipients, 600, "every recipient")
            # The SIGTERM below tests a clean stop of running workers: on a loaded machine the
            # late one may still be importing Python when the others finish the whole list.
            wait_for(lambda: "worker_start" in late_log.read_text("utf-8", errors="replace"),
                     120, "the late worker to start")
            # The last answers are recorded by the workers' next group commits: on a loaded
            # 2-core machine that can take a while after the server saw the last message.
            wait_for(lambda: _states(store) == {"sent": sc.recipients}, 180, "the ledger")
            time.sleep(1)  # workers keep polling: nothing is sent again
            for proc in procs[1:]:
                proc.send_signal(signal.SIGTERM)
            for proc in procs[1:]:
                assert proc.wait(timeout=30) == 0, logs()
            assert late.returncode == 0
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            store.close()  # also when the scenario failed: no connection outlives the test
        counts = Counter(smtp.counts)
    assert len(counts) == sc.recipients and set(counts.values()) == {1}
    assert sorted(counts) == emails


def _sent(store: Store, emails: list[str]) -> int:
    """Deliveries to `emails` the ledger has as sent."""
    wanted = sorted(set(emails))
    with store.session() as s:
        return sum(int(s.scalar(
            select(func.count()).select_from(Delivery)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.state == "sent", Subscriber.email.in_(wanted[i:i + 500]))) or 0)
            for i in range(0, len(wanted), 500))


def _states(store: Store) -> dict[str, int]:
    with store.session() as s:
        return {k: int(n) for k, n in s.execute(
            select(Delivery.state, func.count()).group_by(Delivery.state))}


@pytest.mark.postgres
def test_four_workers_on_postgresql_deliver_20000_exactly_once(tmp_path: Path) -> None:
    """4 worker processes on PostgreSQL, one SIGKILLed mid-batch, one started late: each of
    20,000 recipients gets exactly one message."""
    if not PG_URL:
        pytest.skip("PUBLISHER_TEST_PG_URL not set (.ci/run starts a server)")
    for url in _pg_database():
        cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(tmp_path / "var"),
                                   "PUBLISHER_STORE__URL": url})
        run_scenario(cfg, Scenario(recipients=20_000, at_start=3, kill_at=3000, late_at=8000))


def test_two_workers_on_sqlite_deliver_exactly_once(tmp_path: Path) -> None:
    """Two workers on one SQLite store, one SIGKILLed mid-batch, another started late: each
    recipient gets exactly one message."""
    cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(tmp_path / "var")})
    run_scenario(cfg, Scenario(recipients=1500, at_start=2, kill_at=300, late_at=700))
