"""Unsubscribes reach the sender: a one-click POST stops the next email, even a queued one."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.core import config
from publisher.core.config import Config
from publisher.mail.delivery import deliver
from publisher.mail.digest import create_issue
from publisher.store.engine import Store, open_store
from publisher.subscribers import tokens
from publisher.subscribers.registry import by_email
from publisher.web import create_app
from tests.helpers.mail import T0, article, subscriber
from tests.helpers.web import KEY, Client, outbox, recipient

PEOPLE = [
    ("aigul@example.org", "kk", "Айгүл"),
    ("ivan@example.org", "ru", "Иван"),
    ("jane@example.org", "en", "Jane"),
]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Config, Store]:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(tmp_path / "var")})
    store = open_store(cfg)
    article(
        store,
        "Университетте жаңа зертхана ашылды",
        lang="kk",
        translations={
            "ru": "В университете открылась новая лаборатория",
            "en": "A new laboratory opens at the university",
        },
    )
    for address, lang, name in PEOPLE:
        subscriber(store, address, lang, name=name)
    yield cfg, store
    store.close()


def test_unsubscribe_after_issue_creation_prevents_the_email(env: tuple[Config, Store]) -> None:
    """An issue is frozen with three recipients; one leaves before the send: two emails go."""
    cfg, store = env
    issue = create_issue(cfg, store, "weekly", now=T0 + timedelta(hours=1))
    assert issue is not None
    with store.session() as s:
        ivan = by_email(s, "ivan@example.org")
        assert ivan is not None
        token = tokens.make(KEY, "unsubscribe", ivan.token_id, "weekly")
    client = Client(create_app(cfg, store))
    done = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    report = deliver(cfg, store, issue_id=issue)
    assert report.sent == 2
    assert sorted(recipient(m) for m in outbox(cfg)) == ["aigul@example.org", "jane@example.org"]


def test_list_unsubscribe_header_of_a_digest_works(env: tuple[Config, Store]) -> None:
    """The List-Unsubscribe URL in a real digest one-click unsubscribes; the next digest skips."""
    cfg, store = env
    first = create_issue(cfg, store, "weekly", now=T0 + timedelta(hours=1))
    deliver(cfg, store, issue_id=first)
    [msg] = [m for m in outbox(cfg) if recipient(m) == "jane@example.org"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(https://[^>]+/unsubscribe/[^>]+)>", str(msg["List-Unsubscribe"]))
    assert url is not None
    path = url.group(1).split(cfg.site.base_url.rstrip("/"), 1)[1]
    client = Client(create_app(cfg, store))
    assert client.post(path, files={"List-Unsubscribe": (None, "One-Click")}).status_code == 200
    article(
        store,
        "Жаңа жоба басталды",
        lang="kk",
        at=T0 + timedelta(days=2),
        translations={"ru": "Начался новый проект", "en": "A new project begins"},
    )
    second = create_issue(cfg, store, "weekly", now=T0 + timedelta(days=8))
    assert second is not None and second != first
    deliver(cfg, store, issue_id=second)
    received = [recipient(m) for m in outbox(cfg)]
    assert received.count("jane@example.org") == 1 and received.count("aigul@example.org") == 2
