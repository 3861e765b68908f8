"""A busy store never loses a subscriber's click: short waits, the journal, then the store."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from publisher.core.config import Config
from publisher.store.engine import Store, open_store
from publisher.store.models import MailingList, Subscriber, Subscription
from publisher.subscribers import registry as subscribers
from publisher.subscribers import tokens
from publisher.web import create_app
from tests.conftest import ROOT
from tests.helpers.web import KEY, Client, link, outbox, store_locked, two_lists_config

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
WAIT = 0.3  # the app's store wait in these tests: short, so a locked store shows at once


@pytest.fixture
def busy_cfg(
    store_cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Config:
    """weekly and events on the parametrized store (SQLite, or PostgreSQL when given)."""
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    return two_lists_config(tmp_path, store_cfg.store.url)


@pytest.fixture
def busy_store(busy_cfg: Config) -> Iterator[Store]:
    s = open_store(busy_cfg)
    yield s
    s.close()


def _active(store: Store, address: str, lists: tuple[str, ...] = ("weekly",)) -> str:
    with store.session() as s:
        for slug in lists:
            result = subscribers.add(s, address, list_slug=slug, language="kk", name="Әлия")
        return result.subscriber.token_id


def _states(store: Store, address: str) -> dict[str, str]:
    """{"status": the subscriber's, list slug: the subscription's, ...} of one address."""
    with store.session() as s:
        sub = subscribers.by_email(s, address)
        assert sub is not None
        rows = s.execute(
            select(MailingList.slug, Subscription.status)
            .join(Subscription, Subscription.list_id == MailingList.id)
            .where(Subscription.subscriber_id == sub.id)
        )
        return {"status": sub.status, **{slug: status for slug, status in rows}}


def _journal_pending(app: Starlette) -> bool:
    return bool(app.state.web.journal.pending())


def _run_lifespan_until(app: Starlette, done: object, timeout: float = 20.0) -> bool:
    """Start the app as a server would (lifespan), wait until `done()` or timeout, stop it."""

    async def go() -> bool:
        async with app.router.lifespan_context(app):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if await asyncio.to_thread(done):  # type: ignore[arg-type]
                    return True
                await asyncio.sleep(0.05)
        return False

    return asyncio.run(go())


def test_one_click_while_the_store_is_locked_is_kept_and_applied_later(
    busy_cfg: Config, busy_store: Store
) -> None:
    """A one-click POST to a locked store still answers 200 at once; the next request applies it."""
    token = tokens.make(KEY, "unsubscribe", _active(busy_store, "u@example.kz"), "weekly")
    app = create_app(busy_cfg, busy_store, store_wait=WAIT)
    client = Client(app)
    with store_locked(busy_cfg):
        started = time.monotonic()
        answer = client.post(f"/unsubscribe/{token}", data=ONE_CLICK)
        elapsed = time.monotonic() - started
        assert answer.status_code == 200 and '<html lang="kk"' in answer.text
        assert "location" not in answer.headers
        assert elapsed < 10
        assert _journal_pending(app)
        assert _states(busy_store, "u@example.kz")["weekly"] == "active"
    assert client.get(f"/unsubscribe/{token}").status_code == 200  # the next request
    assert _states(busy_store, "u@example.kz") == {"status": "active", "weekly": "unsubscribed"}
    assert not _journal_pending(app)


def test_confirm_and_preferences_while_locked_are_applied_at_startup(
    busy_cfg: Config, busy_store: Store
) -> None:
    """Confirm and preferences on a locked store answer as done; the next start applies them."""
    client = Client(create_app(busy_cfg, busy_store, store_wait=WAIT))
    client.post("/subscribe", data={"email": "anna@example.org", "name": "Анна",
                                     "language": "ru", "lists": "weekly"})
    confirm = link(outbox(busy_cfg)[0])
    with busy_store.session() as s:
        sub = subscribers.by_email(s, "anna@example.org")
        assert sub is not None
        prefs_token = tokens.make(KEY, "preferences", sub.token_id)
    with store_locked(busy_cfg):
        confirmed = client.post(confirm)
        assert confirmed.status_code == 200 and "Подписка подтверждена" in confirmed.text
        page = client.get(f"/preferences/{prefs_token}")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        saved = client.post(f"/preferences/{prefs_token}", data={
            "csrf": csrf, "language": "en", "timezone": "Asia/Aqtobe",
            "lists": ["weekly", "events"],
        })
        assert saved.status_code == 200 and '<html lang="en"' in saved.text
        assert 'role="status"' in saved.text
        assert _states(busy_store, "anna@example.org") == {"status": "pending",
                                                           "weekly": "pending"}
    restarted = create_app(busy_cfg, busy_store, store_wait=WAIT)

    def applied() -> bool:
        return _states(busy_store, "anna@example.org") == {
            "status": "active", "weekly": "active", "events": "active",
        }

    assert _run_lifespan_until(restarted, applied)
    with busy_store.session() as s:
        sub = subscribers.by_email(s, "anna@example.org")
        assert sub is not None and (sub.language, sub.timezone) == ("en", "Asia/Aqtobe")
        assert sub.prefs_changed_at is not None
    assert not _journal_pending(restarted)


def test_subscribe_on_a_locked_store_asks_to_try_again(
    busy_cfg: Config, busy_store: Store
) -> None:
    """The subscribe form on a store that stays locked gets a localized 503 with Retry-After."""
    client = Client(create_app(busy_cfg, busy_store, store_wait=WAIT))
    with store_locked(busy_cfg):
        page = client.post("/subscribe", data={"email": "x@example.org", "language": "kk",
                                               "lists": "weekly"})
    assert page.status_code == 503 and int(page.headers["retry-after"]) > 0
    assert '<html lang="kk"' in page.text and "Бір минуттан кейін" in page.text
    with busy_store.session() as s:
        assert subscribers.by_email(s, "x@example.org") is None


def test_journal_left_by_a_crash_is_applied_once(busy_cfg: Config, busy_store: Store) -> None:
    """A journal a crashed replay left behind (with a torn last line) is still applied."""
    token_id = _active(busy_store, "c@example.kz", ("weekly", "events"))
    app = create_app(busy_cfg, busy_store, store_wait=WAIT)
    folder = app.state.web.journal.folder
    folder.mkdir(parents=True)
    (folder / f"{1:020d}.replaying").write_text(
        f'{{"kind": "unsubscribe", "token_id": "{token_id}", "list": "events", '
        f'"at": "2025-03-01T09:00:00+00:00"}}\n{{"kind": "unsubscr', encoding="utf-8"
    )
    assert _journal_pending(app)
    assert app.state.web.replay(1.0) == 1
    assert _states(busy_store, "c@example.kz") == {
        "status": "active", "weekly": "active", "events": "unsubscribed",
    }
    assert not _journal_pending(app) and app.state.web.replay(1.0) == 0


def _write_list(path: Path, rows: int, extra: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "name", "language"])
        for i in range(rows - len(extra)):
            out.writerow([f"reader.{i}@example.kz", f"Оқырман {i}", "kk"])
        for address in extra:
            out.writerow([address, "Office name", "ru"])


@pytest.mark.slow
def test_one_click_during_a_large_import_is_never_lost(
    busy_cfg: Config, busy_store: Store, tmp_path: Path
) -> None:
    """20 one-click POSTs during a 100,000-row import all answer 200 and all take effect."""
    # Sorted after every reader: the import reaches them after the clicks, and must skip them.
    people = [f"zz.person.{i}@example.org" for i in range(20)]
    token_ids = [_active(busy_store, address) for address in people]
    big = tmp_path / "office.csv"
    _write_list(big, 100_000, people)
    env = {**os.environ, "PUBLISHER_CONFIG": str(tmp_path / "publisher.toml"),
           "PUBLISHER_DATA_DIR": str(busy_cfg.data_dir)}
    if busy_cfg.store.url:
        env["PUBLISHER_STORE__URL"] = busy_cfg.store.url
    app = create_app(busy_cfg, busy_store)  # the real wait (5 s)
    importer = subprocess.Popen(
        [sys.executable, "-m", "publisher", "subscribers", "import", str(big), "--list", "weekly"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while importer.poll() is None and time.monotonic() < deadline:
            with busy_store.session() as s:
                if (s.scalar(select(func.count()).select_from(Subscriber)) or 0) > 20:
                    break  # the import is writing its chunks
            time.sleep(0.02)
        assert importer.poll() is None, "the import ended before the clicks"

        def click(token_id: str) -> httpx.Response:
            token = tokens.make(KEY, "unsubscribe", token_id, "weekly")
            return Client(app).post(f"/unsubscribe/{token}", data=ONE_CLICK)

        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(click, token_ids))
        out, err = importer.communicate(timeout=300)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.communicate()
    assert [a.status_code for a in answers] == [200] * 20
    assert importer.returncode == 0, err
    assert "99980 added" in out
    Client(app).get(f"/unsubscribe/{tokens.make(KEY, 'unsubscribe', token_ids[0], 'weekly')}")
    assert {address: _states(busy_store, address)["weekly"] for address in people} == dict.fromkeys(
        people, "unsubscribed"
    )
    assert not _journal_pending(app)
    with busy_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 100_000
