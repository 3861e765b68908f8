"""The delivery ledger against a real SMTP server: 250, 451, 550, a dropped connection."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from publisher.core.config import Config
from publisher.mail.delivery import _claim, _record, _release, deliver
from publisher.mail.digest import create_issue
from publisher.mail.transport import Outcome
from publisher.store.engine import open_store
from publisher.store.models import Delivery, DigestIssue, Subscriber, Subscription, utcnow
from publisher.subscribers import registry as subscribers
from tests.helpers.mail import T0, Collector, article, free_port, smtp_server, subscriber

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
    cfg = replace(store_cfg, mail=replace(store_cfg.mail, transport="smtp"),
                  smtp=replace(store_cfg.smtp, host="127.0.0.1", port=free_port(), timeout=2))
    prepare(cfg, store, "a@example.org", "b@example.org")
    report = deliver(cfg, store, key=KEY)
    assert report.deferred == 2 and report.sent == 0
    assert {v[0] for v in ledger(store).values()} == {"deferred"}


def test_message_id_is_kept_on_retry_and_new_in_a_fresh_store(
    smtp_cfg: Config, store: Any, server: tuple[Collector, int], tmp_path: Path
) -> None:
    """A retried message keeps its Message-ID; a reset store's first issue never reuses it."""
    prepare(smtp_cfg, store, "flaky@example.org")
    deliver(smtp_cfg, store, key=KEY)
    first, retry = server[0].message_ids("flaky@example.org")  # dropped after DATA, then 250
    assert first == retry and first.endswith("@news.example.kz")
    with store.session() as s:
        assert s.scalar(select(Delivery.message_id)) == first
    # The same list, issue number and delivery id again, in an empty store.
    fresh_cfg = replace(smtp_cfg, data_dir=tmp_path / "fresh",
                        store=replace(smtp_cfg.store, url=""))
    fresh = open_store(fresh_cfg)
    try:
        prepare(fresh_cfg, fresh, "flaky@example.org")
        deliver(fresh_cfg, fresh, key=KEY)
    finally:
        fresh.close()
    again = server[0].message_ids("flaky@example.org")[2]
    assert again != first
    assert again.startswith("weekly.1.1.") and first.startswith("weekly.1.1.")


def outbox(cfg: Config) -> dict[str, EmailMessage]:
    """Recipient address -> the message the maildir transport wrote for them."""
    found = {}
    for path in (cfg.outbox_dir / "new").glob("*.eml"):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        found[msg["To"].addresses[0].addr_spec] = msg
    return found


def test_dates_follow_each_readers_timezone(store_cfg: Config, store: Any) -> None:
    """An article of 2025-04-07 02:00 UTC is dated 7 апреля in Almaty, 6 апреля in New York."""
    at = datetime(2025, 4, 7, 2, 0, tzinfo=UTC)
    article(store, "Новость из двух часовых поясов", lang="ru", at=at)
    for addr, tz in (("almaty@example.org", "Asia/Almaty"), ("ny@example.org", "America/New_York")):
        with store.session() as s:
            subscribers.add(s, addr, list_slug="weekly", language="ru", timezone=tz,
                            now=at - timedelta(days=1))
    # 03:00 UTC: 08:00 on the 7th in Almaty, 23:00 on the 6th in New York.
    assert create_issue(store_cfg, store, "weekly", now=at + timedelta(hours=1)) is not None
    assert deliver(store_cfg, store, key=KEY).sent == 2
    got = outbox(store_cfg)
    for addr, day, other in (("almaty@example.org", "7", "6"), ("ny@example.org", "6", "7")):
        msg = got[addr]
        body = msg.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert f"{day} апреля 2025" in text and f"{other} апреля" not in text
        assert " ".join(msg["Subject"].split()).endswith(f"{day} апреля 2025 г.")


def test_a_stale_claim_cannot_mark_rows_another_worker_took_over(
    store_cfg: Config, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker that stalled past its lease records nothing on a row another worker re-claimed."""
    prepare(store_cfg, store, "kept@example.org", "lost@example.org")
    lease = timedelta(minutes=5)
    jobs_a, _ = _claim(store, "host-a:1:aaaa:0", 10, None, lease)
    kept, lost = sorted(jobs_a, key=lambda j: j.email)
    with store.session() as s:  # A stalls; the lease of one of its rows runs out
        s.execute(update(Delivery).where(Delivery.id == lost.id)
                  .values(claimed_until=utcnow() - timedelta(seconds=1)))
    (job_b,), _ = _claim(store, "host-b:2:bbbb:0", 10, None, lease)
    assert job_b.id == lost.id
    accepted = Outcome("accepted", 250, "2.0.0 Queued")
    with caplog.at_level(logging.WARNING, logger="publisher.delivery"):
        answers = [(kept, accepted, "a.1@d"), (lost, accepted, "a.2@d")]
        _, states = _record(store_cfg, store, answers)
        _release(store, [lost])  # A stopping must not free B's row either
    assert states == [(kept.id, "sent")]
    assert f"delivery {lost.id} <lost@example.org>" in caplog.text
    with store.session() as s:
        rows = {r[0]: tuple(r[1:]) for r in s.execute(
            select(Delivery.id, Delivery.state, Delivery.claimed_by, Delivery.message_id))}
    assert rows[lost.id] == ("sending", "host-b:2:bbbb:0", "")
    assert rows[kept.id] == ("sent", "", "a.1@d")
    assert cursor(store, "lost@example.org") == T0 - timedelta(days=1)
    _, states = _record(store_cfg, store, [(job_b, accepted, "a.2@d")])
    assert states == [(lost.id, "sent")]
