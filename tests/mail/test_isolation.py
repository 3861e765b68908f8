"""One bad recipient fails alone: odd addresses, long names, errors inside the transport."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from typing import Any

import pytest
from sqlalchemy import func, select

from publisher.core.config import Config
from publisher.core.eventlog import EventLog
from publisher.mail import worker as worker_mod
from publisher.mail.delivery import SendReport, deliver, drain
from publisher.mail.digest import create_issue
from publisher.mail.transport import Outcome, SmtpTransport
from publisher.mail.worker import Worker
from publisher.service import health
from publisher.service.scheduler import Service
from publisher.store.engine import Store, open_store
from publisher.store.models import Delivery, DigestIssue, Subscriber
from tests.helpers.mail import T0, Collector, article, smtp_server, subscriber

KEY = "test-signing-key"


@pytest.fixture
def server() -> Iterator[tuple[Collector, int]]:
    with smtp_server() as found:
        yield found


def smtp(cfg: Config, port: int, connections: int = 2) -> Config:
    return replace(cfg, mail=replace(cfg.mail, transport="smtp"),
                   smtp=replace(cfg.smtp, host="127.0.0.1", port=port, connections=connections))


def ledger(store: Any) -> dict[str, tuple[str, str]]:
    """email -> (state, last reply) of its latest delivery."""
    with store.session() as s:
        rows = s.execute(
            select(Subscriber.email, Delivery.state, Delivery.last_reply)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id).order_by(Delivery.id)
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def issues(store: Any) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(DigestIssue)) or 0)


class Exploding(SmtpTransport):
    """The real SMTP pool, with a bug that fires for one recipient (fault injection)."""

    def __init__(self, cfg: Config, victim: str) -> None:
        super().__init__(cfg)
        self.victim = victim

    async def send(self, sender: str, recipient: str, message: bytes) -> Outcome:
        if recipient == self.victim:
            raise RuntimeError("boom inside the transport")
        return await super().send(sender, recipient, message)


def test_an_exception_for_one_recipient_of_fifty_fails_only_that_one(
    store_cfg: Config, store: Store, server: tuple[Collector, int]
) -> None:
    """The transport raising for one of 50: the other 49 get exactly one message each,
    across two reruns, and the one is `failed` with the error as its reason."""
    cfg = smtp(store_cfg, server[1])
    article(store, "Жаңалық", translations={"ru": "Новость", "en": "News"})
    emails = [f"reader{i:02d}@example.org" for i in range(50)]
    for email in emails:
        subscriber(store, email, "kk")
    assert create_issue(cfg, store, "weekly") is not None
    victim = emails[17]

    async def run_once() -> SendReport:
        tx = Exploding(cfg, victim)
        try:
            return await drain(cfg, store, key=KEY, transport=tx)
        finally:
            await tx.close()

    reports = [asyncio.run(run_once()) for _ in range(3)]  # the first run and two reruns
    received = server[0].received()
    assert victim not in received
    assert received == {e: 1 for e in emails if e != victim}
    state, reply = ledger(store)[victim]
    assert state == "failed" and "RuntimeError: boom inside the transport" in reply
    assert reports[0].sent == 49 and reports[0].failures == [(victim, reply)]
    assert [r.sent for r in reports[1:]] == [0, 0]


def test_send_reports_the_failed_address_and_its_reason(
    store_cfg: Config, server: tuple[Collector, int], cli: Any
) -> None:
    """`publisher send` names each failed address with the server's reason, and goes on."""
    store = open_store(store_cfg)
    try:
        article(store, "Жаңалық", translations={"ru": "Новость", "en": "News"})
        for email in ("one@example.org", "full@example.org", "two@example.org"):
            subscriber(store, email, "kk")
    finally:
        store.close()
    cli.env.update({"PUBLISHER_MAIL__TRANSPORT": "smtp", "PUBLISHER_SMTP__HOST": "127.0.0.1",
                    "PUBLISHER_SMTP__PORT": str(server[1]), "PUBLISHER_SECRET_KEY": KEY})
    result = cli("send", "--list", "weekly")
    assert result.exit_code == 0, result.output
    assert "2 sent" in result.stdout and "1 failed" in result.stdout
    assert "failed: full@example.org: 552 5.2.2 Mailbox full" in result.stdout
    doc = json.loads(cli("send", "--list", "weekly", "--json").stdout)
    assert doc["sent"] == 0 and doc["created_issue_id"] is None


def test_a_permanent_failure_never_opens_a_new_issue_for_that_recipient(
    store_cfg: Config, store: Store, server: tuple[Collector, int]
) -> None:
    """After a 5xx, later sends make no issue for that reader until something new appears;
    then the new issue carries the failed articles too."""
    cfg = smtp(store_cfg, server[1])
    first = article(store, "Бірінші жаңалық", at=T0)
    subscriber(store, "full@example.org", "kk")
    assert create_issue(cfg, store, "weekly", now=T0 + timedelta(hours=1)) is not None
    deliver(cfg, store, key=KEY)
    assert ledger(store)["full@example.org"][0] == "failed"
    assert create_issue(cfg, store, "weekly", now=T0 + timedelta(hours=2)) is None
    assert create_issue(cfg, store, "weekly", now=T0 + timedelta(days=7)) is None
    assert issues(store) == 1
    second = article(store, "Екінші жаңалық", at=T0 + timedelta(days=8))
    assert create_issue(cfg, store, "weekly", now=T0 + timedelta(days=9)) is not None
    with store.session() as s:
        newest = s.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
        assert newest is not None and set(newest.article_ids) == {first, second}


@pytest.mark.parametrize("name", ["A" * 3000, "Жанар " * 500], ids=["ascii", "cyrillic"])
def test_a_3000_character_name_is_folded_and_delivered(
    store_cfg: Config, store: Store, server: tuple[Collector, int], name: str
) -> None:
    """A huge display name never makes a line the server refuses; the To header decodes back
    to the name."""
    cfg = smtp(store_cfg, server[1])
    article(store, "Жаңалық")
    subscriber(store, "long@example.org", "kk", name=name)
    create_issue(cfg, store, "weekly")
    report = deliver(cfg, store, key=KEY)
    assert report.sent == 1, ledger(store)
    (_, _, raw), = server[0].messages
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    header = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    to = message_from_bytes(raw, policy=policy.compat32)["To"]
    display = str(make_header(decode_header(to.rsplit("<", 1)[0])))
    assert display.strip() == name.strip() and "<long@example.org>" in header


def test_an_idn_domain_goes_out_as_punycode_and_keeps_its_display_form(
    store_cfg: Config, store: Store, server: tuple[Collector, int]
) -> None:
    """user@пример.рф: RCPT TO in IDNA form on a plain server; the header shows the
    Unicode form as the display name."""
    cfg = smtp(store_cfg, server[1])
    article(store, "Жаңалық")
    subscriber(store, "user@пример.рф", "kk")
    subscriber(store, "plain@example.org", "kk")
    create_issue(cfg, store, "weekly")
    report = deliver(cfg, store, key=KEY)
    assert report.sent == 2
    assert server[0].received() == {"user@xn--e1afmkfd.xn--p1ai": 1, "plain@example.org": 1}
    raw = next(data for _, rcpts, data in server[0].messages if rcpts[0].startswith("user@"))
    (to,) = message_from_bytes(raw, policy=policy.default)["To"].addresses
    assert (to.display_name, to.addr_spec) == ("user@пример.рф", "user@xn--e1afmkfd.xn--p1ai")


def test_a_non_ascii_local_part_uses_smtputf8_when_offered(
    store_cfg: Config, store: Store
) -> None:
    """юзер@пример.рф is delivered with SMTPUTF8 to a server that offers it."""
    with smtp_server(smtputf8=True) as (collector, port):
        cfg = smtp(store_cfg, port)
        article(store, "Жаңалық")
        subscriber(store, "юзер@пример.рф", "kk", name="Юзер")
        create_issue(cfg, store, "weekly")
        report = deliver(cfg, store, key=KEY)
    assert report.sent == 1, ledger(store)
    assert collector.received() == {"юзер@xn--e1afmkfd.xn--p1ai": 1}


def test_without_smtputf8_only_that_address_fails_with_the_reason(
    store_cfg: Config, store: Store, server: tuple[Collector, int]
) -> None:
    """A server without SMTPUTF8: the non-ASCII local part fails alone with the reason, once;
    everyone else gets one message, also across a rerun."""
    cfg = smtp(store_cfg, server[1])
    article(store, "Жаңалық")
    for email in ("before@example.org", "юзер@example.com", "after@example.org"):
        subscriber(store, email, "kk")
    create_issue(cfg, store, "weekly")
    first = deliver(cfg, store, key=KEY)
    again = deliver(cfg, store, key=KEY)
    assert (first.sent, first.failed, again.sent) == (2, 1, 0)
    state, reply = ledger(store)["юзер@example.com"]
    assert state == "failed" and "the server does not support SMTPUTF8" in reply
    assert server[0].received() == {"before@example.org": 1, "after@example.org": 1}


def test_a_worker_survives_an_unexpected_error_and_goes_on_delivering(
    store_cfg: Config, store: Store, server: tuple[Collector, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A delivery round that raises (a lost store, a bug) is logged; the worker keeps
    running and delivers on its next round."""
    cfg = replace(smtp(store_cfg, server[1]), worker=replace(store_cfg.worker, poll_seconds=0.2))
    article(store, "Жаңалық")
    subscriber(store, "reader@example.org", "kk")
    create_issue(cfg, store, "weekly")
    real = worker_mod.drain
    calls = []

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(worker_mod, "drain", flaky)
    worker = Worker(cfg, store, key=KEY)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + 60
        while not server[0].received() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert server[0].received() == {"reader@example.org": 1}
    assert worker.errors == 1 and "store went away" in worker.last_error


def test_the_service_restarts_a_dead_worker_and_status_shows_it(
    cfg: Config, server: tuple[Collector, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the service's worker task dies, `status` shows it dead with its error, and the
    service starts it again, which then delivers."""
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    cfg = replace(smtp(cfg, server[1]), worker=replace(cfg.worker, poll_seconds=0.2),
                  scheduler=replace(cfg.scheduler, lease_seconds=3.0, shutdown_seconds=5))
    store = open_store(cfg)
    log = EventLog(None, stream=io.StringIO())
    article(store, "Жаңалық")
    subscriber(store, "reader@example.org", "kk")
    create_issue(cfg, store, "weekly")
    real_run = Worker.run
    runs: list[int] = []

    async def dies_once(self: Worker, stop: asyncio.Event) -> Any:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("worker bug")
        return await real_run(self, stop)

    monkeypatch.setattr(Worker, "run", dies_once)
    service = Service(cfg, store, log, web=False)
    seen: list[dict[str, Any]] = []

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not server[0].received():
            tasks = [svc["tasks"].get("worker", {}) for svc in health.read(cfg.data_dir)]
            seen.extend(t for t in tasks if t.get("state") == "dead")
            await asyncio.sleep(0.05)
        service.stop.set()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(scenario())
    finally:
        log.close()
        store.close()
    assert seen and seen[0]["restarts"] == 1 and "worker bug" in seen[0]["last_error"]
    assert server[0].received() == {"reader@example.org": 1}
    assert len(runs) == 2
    assert health.read(cfg.data_dir) == []  # a clean stop leaves no task table behind
