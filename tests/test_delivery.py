"""The delivery ledger against a real SMTP server: 250, 451, 550, a dropped connection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from mail_helpers import T0, Collector, article, smtp_server, subscriber
from sqlalchemy import select, update

from publisher.config import Config
from publisher.delivery import deliver
from publisher.digest import create_issue
from publisher.models import Delivery, DigestIssue, Subscriber, Subscription, utcnow

KEY = "test-signing-key"


@pytest.fixture
def server() -> Iterator[tuple[Collector, int]]:
    with smtp_server() as found:
        yield found


@pytest.fixture
def smtp_cfg(store_cfg: Config, server: tuple[Collector, int]) -> Config:
    return replace(
        store_cfg, mail=replace(store_cfg.mail, transport="smtp"),
        smtp=replace(store_cfg.smtp, host="127.0.0.1", port=server[1], connections=2),
    )


def ledger(store: Any) -> dict[str, tuple[str, int, str]]:
    """email -> (state, attempts, last reply)."""
    with store.session() as s:
        rows = s.execute(
            select(Subscriber.email, Delivery.state, Delivery.attempts, Delivery.last_reply)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        ).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def cursor(store: Any, email: str) -> Any:
    with store.session() as s:
        return s.scalar(
            select(Subscription.cursor).join(Subscriber).where(Subscriber.email == email)
        )


def prepare(cfg: Config, store: Any, *emails: str) -> int:
    article(store, "Жаңалық", lang="kk", translations={"ru": "Новость", "en": "News"})
    for email in emails:
        subscriber(store, email, "kk")
    issue = create_issue(cfg, store, "weekly")  # now: the retry lifetime counts from here
    assert issue is not None
    return issue


def test_accepted_message_is_marked_sent_and_moves_the_cursor(
    smtp_cfg: Config, store: Any, server: tuple[Collector, int]
) -> None:
    """After the server's 250 the delivery is sent, and the subscriber's cursor moved."""
    prepare(smtp_cfg, store, "ok@example.org")
    report = deliver(smtp_cfg, store, key=KEY)
    assert report.sent == 1 and server[0].received() == {"ok@example.org": 1}
    state, attempts, reply = ledger(store)["ok@example.org"]
    assert (state, attempts) == ("sent", 1) and reply.startswith("250")
    with store.session() as s:
        window_end = s.scalar(select(DigestIssue.window_end))
    assert cursor(store, "ok@example.org") == window_end


def test_temporary_failure_is_deferred_with_backoff(smtp_cfg: Config, store: Any) -> None:
    """A 451 leaves the delivery deferred, due again later, and the cursor unmoved."""
    prepare(smtp_cfg, store, "temp@example.org")
    report = deliver(smtp_cfg, store, key=KEY)
    assert report.deferred == 1 and report.sent == 0
    state, attempts, reply = ledger(store)["temp@example.org"]
    assert (state, attempts) == ("deferred", 1) and reply.startswith("451")
    with store.session() as s:
        due = s.scalar(select(Delivery.next_attempt_at))
        assert due is not None and due > utcnow() + timedelta(minutes=4)
    assert cursor(store, "temp@example.org") == T0 - timedelta(days=1)
    assert deliver(smtp_cfg, store, key=KEY).deferred == 0  # not due yet: nothing tried


def test_deferred_delivery_fails_after_the_retry_lifetime(smtp_cfg: Config, store: Any) -> None:
    """Once retry_lifetime_hours have passed since the issue, a 451 turns into failed."""
    prepare(smtp_cfg, store, "temp@example.org")
    with store.session() as s:  # the issue is old: its lifetime is over
        s.execute(update(DigestIssue).values(created_at=T0 - timedelta(days=30)))
    deliver(smtp_cfg, store, key=KEY)
    state, _, reply = ledger(store)["temp@example.org"]
    assert state == "failed" and "gave up" in reply


def test_hard_bounce_fails_and_marks_the_subscriber_bounced(
    smtp_cfg: Config, store: Any, server: tuple[Collector, int]
) -> None:
    """A 550 5.1.1 is never retried and the address is marked bounced; others still go."""
    prepare(smtp_cfg, store, "gone@example.org", "ok@example.org", "full@example.org")
    report = deliver(smtp_cfg, store, key=KEY)
    states = ledger(store)
    assert states["gone@example.org"][0] == "bounced"
    assert states["full@example.org"][0] == "failed"  # 552 5.2.2: not the address's fault
    assert states["ok@example.org"][0] == "sent"
    assert (report.sent, report.bounced, report.failed) == (1, 1, 1)
    with store.session() as s:
        status = dict(s.execute(select(Subscriber.email, Subscriber.status)).all())
    assert status == {"gone@example.org": "bounced", "ok@example.org": "active",
                      "full@example.org": "active"}
    assert deliver(smtp_cfg, store, key=KEY).sent == 0
    assert server[0].received() == {"ok@example.org": 1}


def test_connection_dropped_after_data_is_retried_once(
    smtp_cfg: Config, store: Any, server: tuple[Collector, int]
) -> None:
    """A drop after DATA is possibly delivered: retried once, then failed if it drops again."""
    prepare(smtp_cfg, store, "flaky@example.org", "drop@example.org")
    report = deliver(smtp_cfg, store, key=KEY)
    states = ledger(store)
    assert states["flaky@example.org"][:2] == ("sent", 2)
    assert states["drop@example.org"][:2] == ("failed", 2)
    assert "possibly delivered" in states["drop@example.org"][2]
    assert report.possibly_delivered == 3
    assert server[0].attempts == {"flaky@example.org": 2, "drop@example.org": 2}


def test_unsubscribed_before_sending_is_never_sent(
    smtp_cfg: Config, store: Any, server: tuple[Collector, int]
) -> None:
    """Someone who unsubscribes after the issue was created gets nothing from it."""
    prepare(smtp_cfg, store, "leaver@example.org", "stayer@example.org")
    with store.session() as s:
        s.execute(update(Subscription).where(Subscription.subscriber_id == 1)
                  .values(status="unsubscribed"))
    report = deliver(smtp_cfg, store, key=KEY)
    assert report.cancelled == 1 and report.sent == 1
    assert server[0].received() == {"stayer@example.org": 1}
    assert ledger(store)["leaver@example.org"][0] == "cancelled"


def test_server_down_defers_everything(store_cfg: Config, store: Any) -> None:
    """With no SMTP server listening, deliveries are deferred, not lost or failed."""
    from mail_helpers import free_port

    cfg = replace(store_cfg, mail=replace(store_cfg.mail, transport="smtp"),
                  smtp=replace(store_cfg.smtp, host="127.0.0.1", port=free_port(), timeout=2))
    prepare(cfg, store, "a@example.org", "b@example.org")
    report = deliver(cfg, store, key=KEY)
    assert report.deferred == 2 and report.sent == 0
    assert {v[0] for v in ledger(store).values()} == {"deferred"}
