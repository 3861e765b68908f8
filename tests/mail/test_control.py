"""The admin's levers around a send: preview, test sends, issue history, retries now."""

from __future__ import annotations

import email
import email.policy
import json
import re
from typing import Any

from sqlalchemy import func, select

from publisher.core.config import Config
from publisher.store.models import Delivery, DigestIssue, Subscription
from tests.helpers.mail import T0, article, free_port, smtp_server, subscriber

KEY = "test-signing-key"


def populate(store: Any) -> None:
    article(store, "Университетте жаңа зертхана ашылды", lang="kk",
            translations={"ru": "В университете открылась новая лаборатория",
                          "en": "A new laboratory opens at the university"})
    subscriber(store, "aigul@example.org", "kk", name="Айгүл")
    subscriber(store, "ivan@example.org", "ru", name="Иван")
    subscriber(store, "full@example.org", "kk")


def smtp_env(cli: Any, port: int) -> None:
    cli.env.update({"PUBLISHER_MAIL__TRANSPORT": "smtp", "PUBLISHER_SMTP__HOST": "127.0.0.1",
                    "PUBLISHER_SMTP__PORT": str(port), "PUBLISHER_SECRET_KEY": KEY})


def counts(store: Any) -> tuple[int, int]:
    with store.session() as s:
        issues = s.scalar(select(func.count()).select_from(DigestIssue)) or 0
        deliveries = s.scalar(select(func.count()).select_from(Delivery)) or 0
    return int(issues), int(deliveries)


def cursors(store: Any) -> list[Any]:
    with store.session() as s:
        return list(s.scalars(select(Subscription.cursor).order_by(Subscription.subscriber_id)))


def test_preview_shows_subject_text_and_html(cli: Any, store: Any) -> None:
    """`digest preview` prints the subject, the plain-text part and the HTML part."""
    populate(store)
    result = cli("digest", "preview", "--list", "weekly", "--lang", "ru")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Subject: Еженедельный дайджест № 1")
    text = out.split("----- text/plain -----", 1)[1].split("----- text/html -----", 1)[0]
    assert "В университете открылась новая лаборатория" in text and "<" not in text
    assert '<html lang="ru" dir="ltr">' in out.split("----- text/html -----", 1)[1]
    doc = json.loads(cli("digest", "preview", "--list", "weekly", "--lang", "kk",
                         "--json").stdout)
    assert doc["articles"] == 1 and "Университетте" in doc["text"] and doc["subject"]
    assert counts(store) == (0, 0)


def test_test_send_goes_to_one_address_and_records_nothing(
    cli: Any, store: Any, store_cfg: Config
) -> None:
    """`send --test-to` mails the next issue in the asked language, marked [TEST], to that
    address only; no issue, delivery or cursor changes, so the real send is unchanged."""
    populate(store)
    before = cursors(store)
    with smtp_server() as (server, port):
        smtp_env(cli, port)
        result = cli("send", "--list", "weekly", "--test-to", "Editor@Example.org",
                     "--lang", "ru")
        assert result.exit_code == 0, result.output
        assert "[TEST]" in result.stdout
        assert server.received() == {"editor@example.org": 1}
        (_, _, raw), = server.messages
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert str(msg["Subject"]).startswith("[TEST] ") and msg["Content-Language"] == "ru"
        assert counts(store) == (0, 0)
        assert cursors(store) == before
        real = cli("send", "--list", "weekly", "--json")
        assert json.loads(real.stdout)["sent"] == 2
    assert server.received()["aigul@example.org"] == 1


def test_a_test_send_to_a_bad_address_is_rejected(cli: Any, store: Any) -> None:
    """A malformed --test-to address is bad input: exit 2, one line, nothing sent."""
    populate(store)
    result = cli("send", "--list", "weekly", "--test-to", "not an address")
    assert result.exit_code == 2 and "--test-to" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_digest_list_and_show_give_counts_and_failed_reasons(cli: Any, store: Any) -> None:
    """After a send, `digest list` shows the issue's counts and `digest show` the failed
    address with the server's reason, per language."""
    populate(store)
    with smtp_server() as (_, port):
        smtp_env(cli, port)
        assert cli("send", "--list", "weekly").exit_code == 0
    listed = json.loads(cli("digest", "list", "--json").stdout)["issues"]
    (issue,) = listed
    assert (issue["recipients"], issue["sent"], issue["failed"]) == (3, 2, 1)
    text = cli("digest", "list", "--list", "weekly").stdout
    assert "weekly" in text and str(issue["id"]) in text
    shown = json.loads(cli("digest", "show", str(issue["id"]), "--json").stdout)
    assert shown["languages"] == {"kk": {"sent": 1, "failed": 1}, "ru": {"sent": 1}}
    (problem,) = shown["problems"]
    assert problem["email"] == "full@example.org" and "552 5.2.2" in problem["reason"]
    assert "full@example.org" in cli("digest", "show", str(issue["id"])).stdout
    missing = cli("digest", "show", "999")
    assert missing.exit_code == 2 and "digest list" in missing.stderr


def test_deferred_mail_is_shown_and_retried_now_on_request(
    cli: Any, store: Any, store_cfg: Config
) -> None:
    """After a relay outage the next send says what waits for a retry (as does status), and
    `--retry-now` sends it at once instead of in five minutes."""
    article(store, "Жаңалық", lang="kk", at=T0)
    subscriber(store, "one@example.org", "kk")
    subscriber(store, "two@example.org", "kk")
    port = free_port()
    smtp_env(cli, port)
    down = cli("send", "--list", "weekly")
    assert down.exit_code == 1 and "deferred" in down.stderr
    with smtp_server(port=port) as (server, _):
        again = cli("send", "--list", "weekly")
        assert again.exit_code == 0 and "2 deferred delivery(ies) wait for a retry" in again.stdout
        assert server.received() == {}
        status = cli("status").stdout
        assert "pending retries: 2" in status and "Asia/Almaty" in status and "UTC" in status
        now = cli("send", "--list", "weekly", "--retry-now")
        assert now.exit_code == 0, now.output
        assert "2 deferred delivery(ies) of list weekly are due now" in now.stdout
        assert server.received() == {"one@example.org": 1, "two@example.org": 1}
    assert "pending retries: none" in cli("status").stdout


def test_send_builds_the_pages_its_digest_links_to(
    cli: Any, store: Any, store_cfg: Config
) -> None:
    """On a store whose site was never built, `send` writes the article pages first: every
    site link in the digest opens an existing page."""
    populate(store)
    cli.env["PUBLISHER_SECRET_KEY"] = KEY
    assert not (store_cfg.site_dir / "kk" / "index.html").exists()
    assert cli("send", "--list", "weekly").exit_code == 0
    base = store_cfg.site.base_url.rstrip("/")
    links = set()
    for path in (store_cfg.outbox_dir / "new").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(("html",))
        assert body is not None
        links |= {u for u in re.findall(r'href="([^"]+)"', body.get_content())
                  if u.startswith(base) and "/unsubscribe/" not in u
                  and "/preferences/" not in u}
    assert links
    for url in links:
        rel = url[len(base):].strip("/")
        assert (store_cfg.site_dir / rel / "index.html").is_file() or (
            store_cfg.site_dir / rel).is_file(), url


def test_a_long_digest_is_capped_with_a_link_to_the_rest(store_cfg: Config, store: Any) -> None:
    """[[lists]] max_articles: a digest shows that many articles, then a localized "and N
    more on the site" link to the reader's language index."""
    from dataclasses import replace

    from publisher.mail.digest import preview

    for i in range(5):
        article(store, f"Жаңалық нөмірі {i}", at=T0 + i * T0.resolution,
                translations={"ru": f"Новость номер {i}", "en": f"News number {i}"})
    lists = [replace(x, max_articles=2) if x.slug == "weekly" else x for x in store_cfg.lists]
    cfg = replace(store_cfg, lists=lists)
    expected = {"en": "And 3 more articles on the site", "ru": "И ещё 3 статьи на сайте",
                "kk": "Сайтта тағы 3 мақала бар"}
    for lang, words in expected.items():
        shown = preview(cfg, store, "weekly", lang)
        assert sum(f"номер {i}" in shown.text or f"number {i}" in shown.text
                   or f"нөмірі {i}" in shown.text for i in range(5)) == 2, lang
        assert words in shown.text and words in shown.html, lang
        assert f"{cfg.site.base_url}/{lang}/" in shown.text.split(words, 1)[1]
    uncapped = replace(cfg, lists=store_cfg.lists)
    assert "on the site" not in preview(uncapped, store, "weekly", "en").text
