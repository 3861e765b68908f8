"""The web endpoint through httpx's ASGI transport: subscribe, confirm, unsubscribe, preferences."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import select

from publisher.core import config
from publisher.core.config import Config
from publisher.core.errors import PublisherError
from publisher.store.engine import Store, open_store
from publisher.store.models import MailingList, Subscription
from publisher.subscribers import registry as subscribers
from publisher.subscribers import tokens
from publisher.web import create_app
from tests.helpers.web import KEY, Client, html_of, link, outbox, text_of

TWO_LISTS = """
[[lists]]
slug = "weekly"
title = { kk = "Апталық дайджест", ru = "Еженедельный дайджест", en = "Weekly digest" }
[[lists]]
slug = "events"
title = { kk = "Іс-шаралар", ru = "События", en = "Events" }
"""


@pytest.fixture
def web_cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    toml = tmp_path / "publisher.toml"
    toml.write_text(TWO_LISTS, encoding="utf-8")
    return config.load(toml, environ={"PUBLISHER_DATA_DIR": str(tmp_path / "var")})


@pytest.fixture
def web_store(web_cfg: Config) -> Iterator[Store]:
    s = open_store(web_cfg)
    yield s
    s.close()


@pytest.fixture
def client(web_cfg: Config, web_store: Store) -> Client:
    return Client(create_app(web_cfg, web_store))


def _subscribe(
    client: Client, address: str, lang: str = "ru", ip: str | None = None, **extra: Any
) -> httpx.Response:
    data = {"email": address, "name": "Анна", "language": lang, "lists": "weekly", **extra}
    return client.post("/subscribe", data=data, ip=ip)


def _statuses(store: Store, address: str) -> tuple[str, dict[str, str]]:
    with store.session() as s:
        sub = subscribers.by_email(s, address)
        assert sub is not None
        rows = s.execute(
            select(MailingList.slug, Subscription.status)
            .join(Subscription, Subscription.list_id == MailingList.id)
            .where(Subscription.subscriber_id == sub.id)
        )
        return sub.status, {slug: status for slug, status in rows}


def _active(store: Store, address: str, lists: tuple[str, ...] = ("weekly", "events")) -> str:
    with store.session() as s:
        for slug in lists:
            result = subscribers.add(s, address, list_slug=slug, language="kk", name="Әлия")
        return result.subscriber.token_id


# --- subscribe and confirm -------------------------------------------------------------


def test_subscribe_page_is_localized_and_accessible(client: Client) -> None:
    """/{lang}/subscribe/ has <html lang>, a label for every field, and no script."""
    for lang in ("kk", "ru", "en"):
        page = client.get(f"/{lang}/subscribe/")
        assert page.status_code == 200 and page.headers["content-language"] == lang
        assert f'<html lang="{lang}" dir="ltr">' in page.text
        for field in ("subscribe-email", "subscribe-name", "subscribe-language"):
            assert f'<label for="{field}">' in page.text and f'id="{field}"' in page.text
        assert "<script" not in page.text
        assert (
            'name="lists" value="weekly"' in page.text
            and 'name="lists" value="events"' in page.text
        )
    headings = {
        lang: re.search(r"<h1>(.*?)</h1>", client.get(f"/{lang}/subscribe/").text)
        for lang in ("kk", "ru", "en")
    }
    assert {k: v.group(1) for k, v in headings.items() if v} == {
        "kk": "Дайджестке жазылу",
        "ru": "Подписаться на дайджест",
        "en": "Subscribe to the digest",
    }
    assert client.get("/de/subscribe/").status_code == 404
    assert client.get("/kk/subscribe").status_code == 308


def test_double_opt_in_in_the_chosen_language(
    client: Client, web_cfg: Config, web_store: Store
) -> None:
    """Subscribing mails a Russian confirmation; its link's button activates it, once."""
    answer = _subscribe(client, "anna@example.org")
    assert answer.status_code == 200 and 'role="status"' in answer.text
    assert _statuses(web_store, "anna@example.org") == ("pending", {"weekly": "pending"})
    [msg] = outbox(web_cfg)
    assert msg["To"] == "anna@example.org" and msg["Content-Language"] == "ru"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert str(msg["Subject"]).startswith("Подтвердите подписку")
    assert '<html lang="ru"' in html_of(msg) and "Анна" in text_of(msg)
    assert "Еженедельный дайджест" in text_of(msg)
    confirmed = client.post(link(msg))
    assert confirmed.status_code == 200 and '<html lang="ru"' in confirmed.text
    assert "Подписка подтверждена" in confirmed.text
    assert confirmed.headers["cache-control"] == "no-store"
    assert _statuses(web_store, "anna@example.org") == ("active", {"weekly": "active"})
    again = client.post(link(msg))
    assert again.status_code == 200 and 'role="status"' in again.text
    assert _statuses(web_store, "anna@example.org") == ("active", {"weekly": "active"})


def test_opening_the_confirm_link_never_confirms(
    client: Client, web_cfg: Config, web_store: Store
) -> None:
    """A GET (a mail scanner prefetching the link) only shows a localized button."""
    _subscribe(client, "scanned@example.org")
    path = link(outbox(web_cfg)[0])
    for method in ("GET", "HEAD", "GET"):
        page = client.request(method, path)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert _statuses(web_store, "scanned@example.org") == ("pending", {"weekly": "pending"})
    assert '<html lang="ru"' in page.text and "<script" not in page.text
    assert f'<form method="post" action="{path}">' in page.text
    assert "Подтвердите, что хотите получать:" in page.text and "Еженедельный дайджест" in page.text
    assert "Подтвердить подписку" in page.text
    switched = client.get(f"{path}?lang=kk")
    assert f'<form method="post" action="{path}?lang=kk">' in switched.text
    assert '<html lang="kk"' in client.post(f"{path}?lang=kk").text
    assert _statuses(web_store, "scanned@example.org") == ("active", {"weekly": "active"})
    opened_after = client.get(path)
    assert opened_after.status_code == 200 and 'role="status"' in opened_after.text
    assert "<form" not in opened_after.text.split("<main", 1)[1]


def test_tokens_carry_no_address(client: Client, web_cfg: Config) -> None:
    """The confirmation link does not reveal the email address, even base64-decoded."""
    _subscribe(client, "secret.person@example.org")
    token = link(outbox(web_cfg)[0]).rsplit("/", 1)[1]
    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert "secret.person" not in decoded and "example.org" not in decoded
    assert isinstance(json.loads(decoded), list)


def test_same_answer_for_known_and_unknown_addresses(
    client: Client, web_cfg: Config, web_store: Store
) -> None:
    """A subscribed and a new address get byte-identical pages; only the new one gets mail."""
    _active(web_store, "known@example.kz")
    known = _subscribe(client, "known@example.kz")
    unknown = _subscribe(client, "unknown@example.kz")
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert [m["To"] for m in outbox(web_cfg)] == ["unknown@example.kz"]


def test_invalid_address_is_shown_back(client: Client, web_cfg: Config) -> None:
    """A malformed address re-shows the form with an accessible error and sends nothing."""
    page = _subscribe(client, "not an address", lang="kk")
    assert page.status_code == 400 and 'role="alert"' in page.text
    assert 'aria-invalid="true"' in page.text and '<html lang="kk"' in page.text
    assert outbox(web_cfg) == []


def test_one_live_confirmation_per_address(web_cfg: Config, web_store: Store) -> None:
    """A repeat within minutes sends nothing; a later one sends a new link and kills the old."""
    start = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        client = Client(create_app(web_cfg, web_store))
        _subscribe(client, "twice@example.org")
        _subscribe(client, "twice@example.org", ip="198.51.100.7")
        assert len(outbox(web_cfg)) == 1
    with time_machine.travel(start + timedelta(minutes=30), tick=False):
        _subscribe(client, "twice@example.org", ip="198.51.100.8")
        first, second = outbox(web_cfg)
        assert client.get(link(first)).status_code == 410  # superseded, though unexpired
        assert client.post(link(first)).status_code == 410
        assert _statuses(web_store, "twice@example.org")[0] == "pending"
        assert client.post(link(second)).status_code == 200
    assert _statuses(web_store, "twice@example.org")[0] == "active"


def test_confirmation_link_expires(web_cfg: Config, web_store: Store) -> None:
    """A link older than [web] confirm_hours (72 h) is refused with a way to start over."""
    start = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        _subscribe(Client(create_app(web_cfg, web_store)), "late@example.org")
    [msg] = outbox(web_cfg)
    with time_machine.travel(start + timedelta(hours=71, minutes=59), tick=False):
        assert Client(create_app(web_cfg, web_store)).post(link(msg)).status_code == 200
    with web_store.session() as s:
        subscribers.remove(s, "late@example.org", erase=True)
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        _subscribe(Client(create_app(web_cfg, web_store)), "late@example.org")
    expired = outbox(web_cfg)[1]
    with time_machine.travel(start + timedelta(hours=73, minutes=1), tick=False):
        late = Client(create_app(web_cfg, web_store))
        page = late.get(link(expired))
        pressed = late.post(link(expired))
    for answer in (page, pressed):
        assert answer.status_code == 410 and 'href="/ru/subscribe/"' in answer.text
        assert '<html lang="ru"' in answer.text and "<form" not in answer.text
    assert _statuses(web_store, "late@example.org")[0] == "pending"


def test_superseded_link_is_refused_while_unexpired(web_cfg: Config, web_store: Store) -> None:
    """A confirm link for a request that was replaced (after unsubscribing) confirms nothing."""
    client = Client(create_app(web_cfg, web_store))
    _subscribe(client, "x@example.org")
    first = link(outbox(web_cfg)[0])
    assert client.post(first).status_code == 200
    with web_store.session() as s:
        subscribers.remove(s, "x@example.org", list_slug="weekly")
    assert client.get(first).status_code == 410
    assert client.post(first).status_code == 410  # stale: no silent re-subscription
    assert _statuses(web_store, "x@example.org")[1] == {"weekly": "unsubscribed"}


def test_forged_and_wrong_purpose_confirm_tokens(client: Client, web_store: Store) -> None:
    """Tampered tokens, tokens signed with another key, and unsubscribe tokens do not confirm."""
    token_id = _active(web_store, "p@example.org")
    good = tokens.make(KEY, "confirm", token_id, "1|ru|weekly")
    assert client.get(f"/confirm/{good[:-2]}xx").status_code == 400
    assert client.post(f"/confirm/{good[:-2]}xx").status_code == 400
    assert (
        client.get(
            f"/confirm/{tokens.make('other-key', 'confirm', token_id, '1|ru|weekly')}"
        ).status_code
        == 400
    )
    wrong = tokens.make(KEY, "unsubscribe", token_id, "weekly")
    page = client.get(f"/confirm/{wrong}")
    assert page.status_code == 400 and 'role="alert"' in page.text
    assert client.post(f"/confirm/{wrong}").status_code == 400


def test_flood_from_one_ip_gets_429(client: Client, web_cfg: Config) -> None:
    """Past the per-IP limit the form answers 429 with Retry-After; other clients still pass."""
    limit = web_cfg.web.subscribe_per_ip
    codes = [_subscribe(client, f"bot{i}@example.org").status_code for i in range(limit + 3)]
    assert codes == [200] * limit + [429] * 3
    flooded = _subscribe(client, "bot@example.org")
    assert int(flooded.headers["retry-after"]) > 0 and '<html lang="ru"' in flooded.text
    assert _subscribe(client, "human@example.org", ip="203.0.113.9").status_code == 200
    assert len(outbox(web_cfg)) == limit + 1


def test_per_address_limit_is_silent(client: Client, web_cfg: Config, web_store: Store) -> None:
    """Hammering one address from many IPs never errors and never mails more than once."""
    pages = {_subscribe(client, "victim@example.org", ip=f"198.51.100.{i}").text for i in range(8)}
    assert len(pages) == 1 and len(outbox(web_cfg)) == 1


def test_honeypot_sends_nothing(client: Client, web_cfg: Config) -> None:
    """A bot that fills the hidden field sees the usual answer and no email goes out."""
    page = _subscribe(client, "bot@example.org", website="http://spam.example")
    assert page.status_code == 200 and outbox(web_cfg) == []


# --- unsubscribe -----------------------------------------------------------------------


def test_unsubscribe_get_never_unsubscribes(client: Client, web_store: Store) -> None:
    """Opening the link (or a mail scanner prefetching it) only shows a localized button."""
    token = tokens.make(KEY, "unsubscribe", _active(web_store, "u@example.kz"), "weekly")
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and '<html lang="kk"' in page.text
    assert f'<form method="post" action="/unsubscribe/{token}">' in page.text
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert "Апталық дайджест" in page.text
    assert _statuses(web_store, "u@example.kz")[1] == {"weekly": "active", "events": "active"}


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe(client: Client, web_store: Store, encoding: str) -> None:
    """RFC 8058 POST: 200, no redirect, no cookie; only the token's list; repeat is harmless."""
    token = tokens.make(KEY, "unsubscribe", _active(web_store, "u@example.kz"), "weekly")
    kw: dict[str, Any] = (
        {"data": {"List-Unsubscribe": "One-Click"}}
        if encoding == "urlencoded"
        else {"files": {"List-Unsubscribe": (None, "One-Click")}}
    )
    for _ in range(2):
        done = client.post(f"/unsubscribe/{token}", **kw)
        assert done.status_code == 200 and "location" not in done.headers
        assert "set-cookie" not in done.headers
        assert '<html lang="kk"' in done.text
    assert _statuses(web_store, "u@example.kz") == (
        "active",
        {"weekly": "unsubscribed", "events": "active"},
    )


def test_unsubscribe_refuses_bad_requests(client: Client, web_store: Store) -> None:
    """No One-Click body, a forged token or a preferences token: 400 and nothing changes."""
    token_id = _active(web_store, "u@example.kz")
    token = tokens.make(KEY, "unsubscribe", token_id, "weekly")
    assert client.post(f"/unsubscribe/{token}", data={"x": "y"}).status_code == 400
    assert (
        client.post(f"/unsubscribe/{token}x", data={"List-Unsubscribe": "One-Click"}).status_code
        == 400
    )
    other = tokens.make(KEY, "preferences", token_id)
    assert (
        client.post(f"/unsubscribe/{other}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 400
    )
    assert client.get(f"/unsubscribe/{other}").status_code == 400
    assert _statuses(web_store, "u@example.kz")[1] == {"weekly": "active", "events": "active"}


def test_unsubscribed_then_subscribing_again_needs_opt_in(
    client: Client, web_cfg: Config, web_store: Store
) -> None:
    """After leaving, the form sends a fresh confirmation and only its link re-activates."""
    token = tokens.make(KEY, "unsubscribe", _active(web_store, "back@example.org"), "weekly")
    client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    _subscribe(client, "back@example.org", lang="en")
    assert _statuses(web_store, "back@example.org")[1]["weekly"] == "pending"
    [msg] = outbox(web_cfg)
    assert msg["Content-Language"] == "en"
    assert client.post(link(msg)).status_code == 200
    assert _statuses(web_store, "back@example.org")[1]["weekly"] == "active"


# --- preferences -----------------------------------------------------------------------


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_preferences_change_language_lists_and_timezone(client: Client, web_store: Store) -> None:
    """The preferences form saves language, timezone and list choices, CSRF-checked."""
    token = tokens.make(KEY, "preferences", _active(web_store, "pref@example.kz"))
    page = client.get(f"/preferences/{token}")
    assert page.status_code == 200 and '<html lang="kk"' in page.text
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    assert page.headers["referrer-policy"] == "no-referrer"
    saved = client.post(
        f"/preferences/{token}",
        data={
            "csrf": _csrf(page),
            "language": "en",
            "timezone": "Asia/Aqtobe",
            "lists": ["events"],
        },
    )
    assert (
        saved.status_code == 200
        and '<html lang="en"' in saved.text
        and 'role="status"' in saved.text
    )
    assert _statuses(web_store, "pref@example.kz")[1] == {
        "weekly": "unsubscribed",
        "events": "active",
    }
    with web_store.session() as s:
        sub = subscribers.by_email(s, "pref@example.kz")
        assert sub is not None and (sub.language, sub.timezone) == ("en", "Asia/Aqtobe")


def test_preferences_name_time_zones_in_the_readers_language(
    client: Client, web_store: Store
) -> None:
    """A Russian reader picks "Алматы (Казахстан)", not "Asia/Almaty"; the form sends the id."""
    token_id = _active(web_store, "tz@example.kz")
    with web_store.session() as s:
        sub = subscribers.by_token_id(s, token_id)
        assert sub is not None
        sub.language, sub.timezone = "ru", "Asia/Tokyo"
    token = tokens.make(KEY, "preferences", token_id)
    page = client.get(f"/preferences/{token}")
    options = re.findall(r'<option value="([^"]+)"( selected)?>([^<]+)</option>', page.text)
    labels = {zone: label for zone, _, label in options}
    assert labels["Asia/Almaty"] == "Алматы (Казахстан)"
    assert labels["Asia/Oral"] == "Уральск (Казахстан)"
    assert labels["America/New_York"] == "Нью-Йорк (Соединенные Штаты)"
    assert options[0] == ("Asia/Tokyo", " selected", "Токио (Япония)")  # own zone first
    assert [zone for zone, _, _ in options[1:3]] == ["Asia/Almaty", "Asia/Qostanay"]
    kk = client.get(f"/preferences/{token}?lang=kk").text
    assert '<option value="Asia/Aqtobe">Ақтөбе (Қазақстан)</option>' in kk
    en = client.get(f"/preferences/{token}?lang=en").text
    assert '<option value="Asia/Almaty">Almaty (Kazakhstan)</option>' in en


def test_preferences_reject_cross_site_posts(
    client: Client, web_cfg: Config, web_store: Store
) -> None:
    """Without the cookie, with a wrong token, or with another person's form: 403, no change."""
    token = tokens.make(KEY, "preferences", _active(web_store, "pref@example.kz"))
    other = tokens.make(KEY, "preferences", _active(web_store, "other@example.kz"))
    form = {"language": "en", "lists": []}
    fresh = Client(client.app)
    assert fresh.post(f"/preferences/{token}", data={**form, "csrf": "0" * 64}).status_code == 403
    page = client.get(f"/preferences/{other}")
    assert (
        client.post(f"/preferences/{token}", data={**form, "csrf": _csrf(page)}).status_code == 403
    )
    assert client.post(f"/preferences/{token}", data={**form, "csrf": "f" * 64}).status_code == 403
    assert _statuses(web_store, "pref@example.kz")[1] == {"weekly": "active", "events": "active"}


def test_preferences_forged_or_wrong_purpose(client: Client, web_store: Store) -> None:
    """A tampered or unsubscribe token opens no preferences page."""
    token_id = _active(web_store, "pref@example.kz")
    assert (
        client.get(f"/preferences/{tokens.make(KEY, 'preferences', token_id)}A").status_code == 400
    )
    assert (
        client.get(
            f"/preferences/{tokens.make(KEY, 'unsubscribe', token_id, 'weekly')}"
        ).status_code
        == 400
    )
    gone = tokens.make(KEY, "preferences", "0" * 32)
    assert client.get(f"/preferences/{gone}").status_code == 404


# --- startup ---------------------------------------------------------------------------


def test_no_signing_key_no_app(cfg: Config, tmp_path: Path) -> None:
    """Outside the demo the app refuses to start without PUBLISHER_SECRET_KEY."""
    store = open_store(cfg)
    try:
        with pytest.raises(PublisherError, match="PUBLISHER_SECRET_KEY"):
            create_app(cfg, store)
        assert create_app(cfg, store, demo=True) is not None
    finally:
        store.close()


def test_serve_without_key_exits_2(cli) -> None:  # type: ignore[no-untyped-def]
    """`publisher serve` without the key prints one clear line and exits 2 (a setting is
    missing: bad input, not a runtime failure)."""
    result = cli("serve", "--port", "0")
    assert result.exit_code == 2
    assert "PUBLISHER_SECRET_KEY is not set" in result.stderr
