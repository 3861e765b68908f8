"""Digest emails: headers, both parts, safe personalisation, one golden file per language."""

from __future__ import annotations

import email
import email.policy
import os
import re
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from publisher.core.config import Config
from publisher.mail.message import DigestMessage, HeaderValueError, Recipient, load_articles
from publisher.subscribers import tokens
from tests.helpers.mail import T0, article

KEY = "test-signing-key"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "email"
# Read at import: the autouse fixture clears PUBLISHER_* variables before each test.
REGEN = os.environ.get("PUBLISHER_REGEN_GOLDEN") == "1"
WINDOW_END = T0 + timedelta(days=19)  # 2026-11-21 in Almaty


@pytest.fixture
def articles(store: Any) -> list[str]:
    return [
        article(store, "Университетте жаңа зертхана ашылды", lang="kk",
                translations={"ru": "В университете открылась новая лаборатория",
                              "en": "A new laboratory opens at the university"},
                body="Зертхана студенттер мен оқытушыларға арналған."),
        article(store, "Конференция по редким заболеваниям", lang="ru",
                at=T0 + timedelta(days=2), body="Врачи из пяти стран обсудили новые подходы."),
        article(store, "Students win GxP-Fest", lang="en", at=T0 + timedelta(days=3),
                body="Pharmacy students took first place & a <special> prize."),
    ]


def build(
    cfg: Config, store: Any, ids: list[str], lang: str, **list_changes: Any
) -> DigestMessage:
    lcfg = replace(cfg.lists[0], **list_changes)
    with store.session() as s:
        arts = load_articles(s, ids)
        return DigestMessage(cfg, lcfg, 12, WINDOW_END, lang, arts, key=KEY, date=WINDOW_END)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


RCPT = Recipient(
    "aigul@example.org", "Айгүл Серікқызы", "tok0123456789abcdef", "weekly.12.7@news.example.kz"
)


def test_headers_are_complete_and_cyrillic_subject_decodes(store_cfg: Config, store: Any,
                                                           articles: list[str]) -> None:
    """A kk digest has every list header and its subject reads back in Kazakh."""
    mail = replace(store_cfg.mail, unsubscribe_mailto="leave@news.example.kz")
    cfg = replace(store_cfg, mail=mail)
    raw = build(cfg, store, articles, "kk").personalise(RCPT)
    msg = parse(raw)
    assert " ".join(msg["Subject"].split()) == "Апталық дайджест № 12 — 2026 ж. 21 қараша"
    assert "=?utf-8?b?" in raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # RFC 2047, 7-bit header
    assert msg["To"].addresses[0].display_name == "Айгүл Серікқызы"
    assert msg["To"].addresses[0].addr_spec == "aigul@example.org"
    assert msg["From"].addresses[0].addr_spec == "news@news.example.kz"
    assert msg["Message-ID"] == "<weekly.12.7@news.example.kz>"
    assert msg["List-Id"] == "<weekly.news.example.kz>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Content-Language"] == "kk" and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    unsub = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
    assert unsub[0].startswith("https://news.example.kz/unsubscribe/")
    assert unsub[1].startswith("mailto:leave@news.example.kz")
    token = unsub[0].rsplit("/", 1)[1]
    assert tokens.read(KEY, "unsubscribe", token) == ("tok0123456789abcdef", "weekly")


def test_text_part_carries_the_same_articles_as_html(store_cfg: Config, store: Any,
                                                      articles: list[str]) -> None:
    """Every article title and link in the HTML part is also in the plain-text part."""
    for lang in ("kk", "ru", "en"):
        text, html = parts(parse(build(store_cfg, store, articles, lang).personalise(RCPT)))
        links = re.findall(rf'href="(https://news\.example\.kz/{lang}/[^"/]+/)"', html)
        assert len(set(links)) == 3
        for link in set(links):
            assert link in text
        titles = re.findall(r'<h2[^>]*><a [^>]*>([^<]+)</a></h2>', html)
        assert len(titles) == 3 and all(t.replace("&amp;", "&") in text for t in titles)
        assert f'<html lang="{lang}" dir="ltr">' in html


def test_fallback_articles_are_marked_with_their_real_language(store_cfg: Config, store: Any,
                                                               articles: list[str]) -> None:
    """An article not translated into kk shows its own text, lang attribute and a note."""
    _, html = parts(parse(build(store_cfg, store, articles, "kk").personalise(RCPT)))
    assert 'lang="en"' in html and 'lang="ru"' in html
    assert html.count('class="fallback"') == 2


def test_personal_values_are_escaped_and_per_recipient(store_cfg: Config, store: Any,
                                                       articles: list[str]) -> None:
    """A name with markup is escaped in HTML; each recipient gets their own links."""
    m = build(store_cfg, store, articles, "en")
    one = parse(m.personalise(Recipient("x@example.org", 'Bob <b>&"', "idone", "a.1@d")))
    two = parse(m.personalise(Recipient("y@example.org", "", "idtwo", "a.2@d")))
    text1, html1 = parts(one)
    text2, html2 = parts(two)
    assert "Bob &lt;b&gt;&amp;&quot;" in html1 and "<b>&" not in html1
    assert 'Bob <b>&"' in text1
    assert one["To"].addresses[0].display_name == 'Bob <b>&"'
    assert one["List-Unsubscribe"] != two["List-Unsubscribe"]
    tok2 = re.search(r"/preferences/([^\"\s<]+)", html2)
    assert tok2 is not None and tokens.read(KEY, "preferences", tok2.group(1))[0] == "idtwo"
    assert "%%PUB-" not in html1 + text1 + html2 + text2


@pytest.mark.parametrize("name", ["", "A", "Ая", "Әлі", "Jane Doe", "Нұрсұлтан Әбішұлы", "李"])
def test_every_personalised_body_decodes_to_the_same_text_with_the_name(
    store_cfg: Config, store: Any, articles: list[str], name: str
) -> None:
    """Bodies are base64 pieces joined per recipient; names of every byte length decode whole."""
    m = build(store_cfg, store, articles, "ru")
    plain = parse(m.personalise(Recipient("z@example.org", "", "idzero", "a.0@d")))
    named = parse(m.personalise(Recipient("z@example.org", name, "idname", "a.1@d")))
    text0, html0 = parts(plain)
    text1, html1 = parts(named)
    if name:
        assert f"Здравствуйте, {name}!" in text1 and f"Здравствуйте, {name}!" in html1
    # Apart from the greeting and the links, every line is the same for both readers.
    assert _without_personal(text0) == _without_personal(text1)
    assert _without_personal(html0) == _without_personal(html1)
    unsub = re.search(r"/unsubscribe/([^\"\s<]+)", html1)
    assert unsub is not None and tokens.read(KEY, "unsubscribe", unsub.group(1))[0] == "idname"


def _without_personal(body: str) -> list[str]:
    return [
        line.strip() for line in body.splitlines()
        if "Здравствуйте" not in line and "/unsubscribe/" not in line
        and "/preferences/" not in line and line.strip()
    ]


@pytest.mark.parametrize("bad", ["Eve\r\nBcc: victim@example.org", "Eve\nX: y", "Eve\rX"])
def test_line_breaks_in_a_name_are_rejected(store_cfg: Config, store: Any,
                                            articles: list[str], bad: str) -> None:
    """A subscriber name carrying CR or LF never reaches a header."""
    m = build(store_cfg, store, articles, "en")
    with pytest.raises(HeaderValueError):
        m.personalise(Recipient("x@example.org", bad, "id", "a.1@d"))


def test_line_breaks_in_a_list_title_are_rejected(store_cfg: Config, store: Any,
                                                  articles: list[str]) -> None:
    """A list title with a line break cannot make a Subject header."""
    with pytest.raises(HeaderValueError):
        build(store_cfg, store, articles, "en", title={"en": "Weekly\r\nBcc: x@example.org"})


def normalised(raw: bytes) -> str:
    """The message as text: volatile headers masked, each part decoded."""
    msg = parse(raw)
    boundary = msg.get_boundary() or ""
    out = []
    for name, value in msg.items():
        if name in ("Date", "Message-ID"):
            value = "<masked>"
        out.append(f"{name}: {str(value).replace(boundary, '<boundary>')}")
    for part in msg.iter_parts():
        out.append("")
        out.append(f"--<boundary> {part.get_content_type()} {part.get_content_charset()}"
                   f" {part['Content-Transfer-Encoding']}")
        out.append(part.get_content())  # type: ignore[attr-defined]
    return "\n".join(out)


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_golden_email(cfg: Config, tmp_path: Path, lang: str) -> None:
    """The rendered digest matches its golden file (PUBLISHER_REGEN_GOLDEN=1 rewrites it)."""
    from publisher.store.engine import open_store

    st = open_store(cfg)
    try:
        ids = [
            article(st, "Университетте жаңа зертхана ашылды", lang="kk",
                    translations={"ru": "В университете открылась новая лаборатория"}),
            article(st, "Students win GxP-Fest", lang="en", at=T0 + timedelta(days=3)),
        ]
        got = normalised(build(cfg, st, ids, lang).personalise(RCPT))
    finally:
        st.close()
    path = GOLDEN / f"{lang}.eml"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with PUBLISHER_REGEN_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8")
