"""Digest issues: who gets which articles, frozen at creation, cursors and the archive copy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from publisher.core.config import Config
from publisher.mail.delivery import deliver
from publisher.mail.digest import create_issue, plan_issue
from publisher.store.models import ArticleText, Delivery, DigestIssue, Subscriber
from tests.helpers.mail import T0, article, subscriber

KEY = "test-signing-key"
DAY = timedelta(days=1)


def with_list(cfg: Config, **changes: Any) -> Config:
    return replace(cfg, lists=[replace(cfg.lists[0], **changes)])


def deliveries(store: Any, issue_id: int) -> dict[str, list[str]]:
    """email -> article ids of that issue's deliveries."""
    with store.session() as s:
        rows = s.execute(
            select(Subscriber.email, Delivery.article_ids)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.issue_id == issue_id)
        ).all()
    return {email: list(ids) for email, ids in rows}


def test_each_reader_gets_the_new_articles_in_their_language(store_cfg: Config,
                                                             store: Any) -> None:
    """A kk and an en reader both get every article published after they subscribed."""
    a = article(store, "Университетте жаңа зертхана ашылды", lang="kk")
    b = article(store, "Conference on rare diseases", lang="en", at=T0 + timedelta(hours=1))
    subscriber(store, "aigul@example.org", "kk")
    subscriber(store, "john@example.org", "en")
    issue = create_issue(store_cfg, store, "weekly", now=T0 + DAY)
    assert issue is not None
    got = deliveries(store, issue)
    assert sorted(got["aigul@example.org"]) == sorted([a, b])
    assert got["john@example.org"] == [b, a]  # newest first


def test_new_subscriber_starts_from_subscription_time(store_cfg: Config, store: Any) -> None:
    """Someone who subscribes today does not get last week's articles."""
    article(store, "Old news", lang="en", at=T0 - 3 * DAY)
    fresh = article(store, "Fresh news", lang="en", at=T0 + DAY)
    subscriber(store, "new@example.org", "en", at=T0)
    issue = create_issue(store_cfg, store, "weekly", now=T0 + 2 * DAY)
    assert issue is not None
    assert deliveries(store, issue) == {"new@example.org": [fresh]}


def test_nothing_new_means_no_issue_unless_send_empty(store_cfg: Config, store: Any) -> None:
    """With no new article no issue is created; a list with send_empty still sends one."""
    subscriber(store, "reader@example.org", "ru")
    assert create_issue(store_cfg, store, "weekly", now=T0 + DAY) is None
    issue = create_issue(with_list(store_cfg, send_empty=True), store, "weekly", now=T0 + DAY)
    assert issue is not None
    assert deliveries(store, issue) == {"reader@example.org": []}


def test_issue_for_a_slot_is_created_once(store_cfg: Config, store: Any) -> None:
    """Asking twice for the same scheduled slot returns the same issue, not a second one."""
    article(store, "Жаңалық", lang="kk")
    subscriber(store, "a@example.org", "kk")
    slot = T0 + DAY
    first = create_issue(store_cfg, store, "weekly", now=slot, slot=slot)
    again = create_issue(store_cfg, store, "weekly", now=slot + timedelta(minutes=5), slot=slot)
    assert first is not None and first == again
    with store.session() as s:
        assert s.scalar(select(DigestIssue.number).where(DigestIssue.id == first)) == 1


def test_nobody_gets_an_article_twice_and_nobody_misses_one(store_cfg: Config,
                                                            store: Any) -> None:
    """After a sent digest the next one holds only what came later; unsent ones carry over."""
    first = article(store, "Бірінші жаңалық", lang="kk")
    subscriber(store, "ok@example.org", "kk")
    subscriber(store, "late@example.org", "kk")
    issue1 = create_issue(store_cfg, store, "weekly", now=T0 + DAY)
    assert issue1 is not None
    with store.session() as s:  # late@ could not be reached: its delivery failed
        s.execute(update(Delivery).where(Delivery.subscriber_id == 2).values(state="failed"))
    deliver(store_cfg, store, key=KEY)
    second = article(store, "Екінші жаңалық", lang="kk", at=T0 + 2 * DAY)
    issue2 = create_issue(store_cfg, store, "weekly", now=T0 + 3 * DAY)
    assert issue2 is not None
    got = deliveries(store, issue2)
    assert got["ok@example.org"] == [second]
    assert got["late@example.org"] == [second, first]


def test_a_subscriber_waiting_on_an_open_issue_is_not_put_in_a_new_one(store_cfg: Config,
                                                                        store: Any) -> None:
    """A recipient still queued in an unfinished issue is left out of the next issue."""
    article(store, "Жаңалық", lang="kk")
    subscriber(store, "a@example.org", "kk")
    first = create_issue(store_cfg, store, "weekly", now=T0 + DAY)
    article(store, "Тағы бір жаңалық", lang="kk", at=T0 + 2 * DAY)
    assert first is not None
    assert create_issue(store_cfg, store, "weekly", now=T0 + 3 * DAY) is None


def test_grace_period_holds_a_pending_translation_back(store_cfg: Config, store: Any) -> None:
    """A ru reader waits grace_hours for the translation, then gets the fallback text."""
    cfg = with_list(store_cfg, grace_hours=48)
    aid = article(store, "Жаңа оқу жылы", lang="kk")
    subscriber(store, "ivan@example.org", "ru")
    assert create_issue(cfg, store, "weekly", now=T0 + DAY) is None
    issue = create_issue(cfg, store, "weekly", now=T0 + 3 * DAY)
    assert issue is not None
    assert deliveries(store, issue) == {"ivan@example.org": [aid]}


def test_translation_ready_within_grace_is_sent_when_ready(store_cfg: Config, store: Any) -> None:
    """A translation finished inside the grace period makes the article available at once."""
    cfg = with_list(store_cfg, grace_hours=48)
    aid = article(store, "Жаңа ғимарат", lang="kk", translations={"ru": "Новое здание"})
    subscriber(store, "ivan@example.org", "ru")
    with store.session() as s:
        s.execute(update(ArticleText).where(ArticleText.lang == "ru")
                  .values(ready_at=T0 + timedelta(hours=5)))
    assert create_issue(cfg, store, "weekly", now=T0 + timedelta(hours=4)) is None
    issue = create_issue(cfg, store, "weekly", now=T0 + timedelta(hours=6))
    assert issue is not None
    assert deliveries(store, issue) == {"ivan@example.org": [aid]}


def test_issue_freezes_recipients_and_articles(store_cfg: Config, store: Any) -> None:
    """Articles and subscribers added after creation are not part of the issue."""
    a = article(store, "Frozen one", lang="en")
    subscriber(store, "first@example.org", "en")
    issue = create_issue(store_cfg, store, "weekly", now=T0 + DAY)
    article(store, "Later one", lang="en", at=T0 + DAY + timedelta(hours=1))
    subscriber(store, "second@example.org", "en", at=T0 + DAY + timedelta(hours=1))
    assert issue is not None
    deliver(store_cfg, store, key=KEY)
    assert deliveries(store, issue) == {"first@example.org": [a]}
    with store.session() as s:
        frozen = s.get(DigestIssue, issue)
        assert frozen is not None and frozen.articles == {"en": [a]} and frozen.status == "done"


def test_dry_run_plan_stores_nothing(store_cfg: Config, store: Any) -> None:
    """A dry run reports recipients per language and leaves no issue behind."""
    article(store, "Dry news", lang="en")
    subscriber(store, "a@example.org", "en")
    subscriber(store, "b@example.org", "kk")
    plan = plan_issue(store_cfg, store, "weekly", now=T0 + DAY, dry_run=True)
    assert plan.recipients == {"en": 1, "kk": 1} and plan.issue_id is None
    with store.session() as s:
        assert s.scalar(select(DigestIssue.id)) is None


def test_web_archive_copy_is_written_per_language(store_cfg: Config, store: Any) -> None:
    """Creating an issue writes {site}/{lang}/digests/{list}/{number}/index.html, no tokens."""
    article(store, "Архивтегі жаңалық", lang="kk")
    subscriber(store, "a@example.org", "kk")
    create_issue(store_cfg, store, "weekly", now=T0 + DAY)
    page = store_cfg.site_dir / "kk" / "digests" / "weekly" / "1" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert '<html lang="kk" dir="ltr">' in html and "Архивтегі жаңалық" in html
    assert "/unsubscribe/" not in html


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_articles_of_an_unknown_list_language_use_the_default(store_cfg: Config, store: Any,
                                                              lang: str) -> None:
    """A subscriber whose language the list does not offer gets the list's default language."""
    cfg = with_list(store_cfg, languages=[lang], default_language=lang)
    article(store, "Some news", lang="en")
    subscriber(store, "x@example.org", "ru" if lang != "ru" else "kk")
    issue = create_issue(cfg, store, "weekly", now=T0 + DAY)
    with store.session() as s:
        assert s.scalar(select(Delivery.lang).where(Delivery.issue_id == issue)) == lang
