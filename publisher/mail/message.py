"""Digest emails: render once per (issue, language, timezone, article set), personalise bytes.

Building an EmailMessage and serialising it with the email package costs milliseconds per
message, several times the SMTP cost. Here the Jinja2 rendering and CSS inlining happen
once per (issue, language, reader's timezone, article set); the result keeps random
markers where the personal parts go (greeting, unsubscribe and preferences links). Per
recipient the marked bodies are joined with the recipient's values, base64-encoded (so any
UTF-8 and any line length is safe) and framed with hand-built headers: a few microseconds
of C work.
"""

from __future__ import annotations

import binascii
import html
import re
import secrets
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import css_inline
from email_validator import EmailNotValidError, validate_email

from publisher.core.atomic import write_text
from publisher.core.config import Config, ListConfig
from publisher.i18n.content import fallback_note, pick
from publisher.i18n.locale import DIRECTION, environment, format_date, gettext, locale, zone
from publisher.store.models import Article, DigestIssue, MailingList, utcnow
from publisher.subscribers import tokens

_INLINER = css_inline.CSSInliner()
# RFC 2047: an encoded word is at most 75 characters. "=?utf-8?b?" + "?=" take 12, so 63
# base64 characters are left: 45 bytes of UTF-8 (a word never splits a character).
_ENCODED_WORD_BYTES = 45
# Plain header text longer than this is written as encoded words, which fold: RFC 5322 wants
# lines of at most 78 characters and servers refuse lines over 998 ("500 Line too long").
_PLAIN_MAX = 60
_MARKERS = ("GREETING", "UNSUBSCRIBE", "PREFERENCES")


class HeaderValueError(ValueError):
    """A header value carries CR or LF (header injection); the message is never emitted."""


def in_wire_form(data: bytes) -> bool:
    """True when SMTP DATA sends `data` byte for byte: every line ends in CRLF (no lone CR
    or LF), the last one too, and no line starts with a period (DATA would double it).

    Byte counts and searches in C: a few tens of microseconds for a digest, against the
    hundreds a regular-expression rewrite of the same bytes takes.
    """
    lf = data.count(b"\n")
    return (
        data.endswith(b"\r\n") and data.count(b"\r") == lf and data.count(b"\r\n") == lf
        and not data.startswith(b".") and b"\n." not in data
    )


class WireMessage(bytes):
    """Message bytes in wire form by construction (`in_wire_form` holds), so the SMTP
    client sends them without checking again. Only `DigestMessage.personalise` makes them."""


def check_header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderValueError(f"line break in the {name} header value")
    return value


def _chunks(text: str, limit: int) -> list[bytes]:
    """UTF-8 pieces of at most `limit` bytes, never cutting a character in two."""
    pieces: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for ch in text:
        b = ch.encode("utf-8")
        if size + len(b) > limit and current:
            pieces.append(b"".join(current))
            current, size = [], 0
        current.append(b)
        size += len(b)
    if current:
        pieces.append(b"".join(current))
    return pieces


def _plain(text: str) -> bool:
    return text.isascii() and all(32 <= ord(c) < 127 for c in text) and len(text) <= _PLAIN_MAX


def encode_words(text: str, *, force: bool = False) -> str:
    """An unstructured header value: as is when short plain ASCII, else RFC 2047 base64
    words of at most 75 characters, one per folded line (any length, any script)."""
    if not force and _plain(text):
        return text
    words = [
        "=?utf-8?b?" + binascii.b2a_base64(chunk, newline=False).decode("ascii") + "?="
        for chunk in _chunks(text, _ENCODED_WORD_BYTES)
    ]
    return "\r\n ".join(words)


_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*$")


def ascii_domain(address: str) -> str:
    """The address with its domain in IDNA form (punycode), as SMTP envelopes need it."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        found = validate_email(f"a@{domain}", check_deliverability=False).ascii_domain
    except EmailNotValidError as exc:
        raise HeaderValueError(f"the domain of {address!r} has no IDNA form: {exc}") from None
    return f"{local}@{found}"


def format_address(name: str, address: str) -> str:
    """`Name <addr>` with the display name encoded and folded when needed (RFC 5322/2047).

    A non-ASCII domain with an ASCII local part goes out in IDNA form, which every server
    takes; the address as the subscriber wrote it stays visible as the display name when
    there is no name. A non-ASCII local part stays as is: such a message is only ever sent
    with SMTPUTF8 (RFC 6531/6532), which allows UTF-8 in headers.
    """
    check_header("address", name)
    check_header("address", address)
    local = address.rpartition("@")[0]
    if not address.isascii() and local.isascii():
        name = name or address
        address = ascii_domain(address)
    if not name:
        return f"<{address}>"
    if len(name) <= _PLAIN_MAX and _ATOM.match(name):
        shown = name
    elif _plain(name):
        shown = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        shown = encode_words(name, force=True)
    return f"{shown} <{address}>"


def _base64_lines(data: bytes) -> bytes:
    raw = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join(raw[i:i + 76] for i in range(0, len(raw), 76))


def _whole_quanta(data: bytes) -> bytes:
    """`data` padded with spaces to a multiple of 3 bytes (whole base64 quanta).

    The spaces go before the last line break, where they end a line and stay invisible;
    with no line break they go at the end, and every slot sits where HTML and plain text
    ignore extra spaces (element text, around an href's URL, after a label's colon).
    """
    pad = -len(data) % 3
    if not pad:
        return data
    at = data.rfind(b"\n")
    if at < 0:
        return data + b" " * pad
    return data[:at] + b" " * pad + data[at:]


class _Base64Body:
    """A body whose static text is base64-encoded once; only the slots are per recipient.

    Base64 of a concatenation equals the concatenation of the parts' base64 when every part
    but the last is whole quanta, and lines may end anywhere between quanta, so encoding a
    50 kB digest per recipient shrinks to encoding a greeting and two links.
    """

    def __init__(self, parts: list[str]) -> None:
        # Even positions: static text; odd positions: slot names.
        statics = [p.encode("utf-8") for p in parts[0::2]]
        self.slots = parts[1::2]
        self.encoded = [
            _base64_lines(seg if i == len(statics) - 1 else _whole_quanta(seg))
            for i, seg in enumerate(statics)
        ]

    def render(self, values: dict[str, str]) -> bytes:
        pieces = [self.encoded[0]]
        for slot, static in zip(self.slots, self.encoded[1:], strict=True):
            pieces.append(_base64_lines(_whole_quanta(values[slot].encode("utf-8"))))
            pieces.append(static)
        return b"\r\n".join(p for p in pieces if p)


def article_url(cfg: Config, lang: str, slug: str) -> str:
    return f"{cfg.site.base_url.rstrip('/')}/{lang}/{slug}/"


def archive_url(cfg: Config, lang: str, list_slug: str, number: int) -> str:
    return f"{cfg.site.base_url.rstrip('/')}/{lang}/digests/{list_slug}/{number}/"


def subject(
    lcfg: ListConfig, number: int, window_end: datetime, lang: str, tz: str | None = None
) -> str:
    """E.g. "Апталық дайджест №12 — 2026 ж. 21 қараша"."""
    return gettext(lang, "%(title)s No. %(number)s — %(date)s") % {
        "title": list_title(lcfg, lang), "number": number,
        "date": format_date(window_end, lang, tz or lcfg.timezone, "long"),
    }


def reader_timezone(lcfg: ListConfig, tz: str | None) -> str:
    """The reader's timezone when it names a known zone, else the list's."""
    if tz:
        try:
            zone(tz)
            return tz
        except (ValueError, ZoneInfoNotFoundError):
            pass
    return lcfg.timezone


def list_title(lcfg: ListConfig, lang: str) -> str:
    return lcfg.title.get(lang) or lcfg.title.get(lcfg.default_language) or lcfg.slug


def _language_in(lang: str, reader: str) -> str:
    """`lang`'s name as used mid-sentence by a reader of `reader` ("орыс тілі", "English")."""
    return locale(lang).get_display_name(locale(reader)) or lang


def _items(cfg: Config, lang: str, tz: str, articles: Sequence[Article]) -> list[Any]:
    items = []
    for art in articles:
        shown = pick(art, lang, cfg.i18n.fallback)
        summary = shown.text.summary or next(
            (b["text"] for b in shown.text.blocks if b.get("kind") == "paragraph"), ""
        )
        items.append({
            "title": shown.text.title, "url": article_url(cfg, lang, art.slug),
            "lang": shown.lang, "dir": DIRECTION[shown.lang], "is_fallback": shown.is_fallback,
            "note": fallback_note(shown),
            "language_name": _language_in(shown.lang, lang),
            "date_text": format_date(art.published_at, lang, tz) if art.date_stated else "",
            "summary": summary,
            "summary_wrapped": textwrap.fill(summary, 72, subsequent_indent="   "),
        })
    return items


def render_bodies(
    cfg: Config, lcfg: ListConfig, number: int, window_end: datetime, lang: str,
    articles: Sequence[Article], *, greeting: str, view_url: str, unsubscribe_url: str,
    preferences_url: str, archive: bool = False, tz: str | None = None,
) -> tuple[str, str]:
    """(HTML with CSS inlined, plain text) of one digest in `lang`, dates in `tz`."""
    env = environment(lang, cfg.template_dir)
    tz = tz or lcfg.timezone
    cap = lcfg.max_articles if lcfg.max_articles > 0 else len(articles)
    more = max(0, len(articles) - cap)
    ctx = {
        "subject": subject(lcfg, number, window_end, lang, tz),
        "list_title": list_title(lcfg, lang), "number": number,
        "date_text": format_date(window_end, lang, tz, "long"),
        "articles": _items(cfg, lang, tz, articles[:cap]), "more": more, "greeting": greeting,
        "view_url": view_url, "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url, "archive": archive,
        "home_url": f"{cfg.site.base_url.rstrip('/')}/{lang}/",
        "site_title": cfg.site.title.get(lang, ""),
    }
    html_body = _INLINER.inline(env.get_template("email/digest.html").render(**ctx))
    text_body = env.get_template("email/digest.txt").render(**ctx)
    return html_body, text_body


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    token_id: str
    message_id: str  # without angle brackets


class DigestMessage:
    """One (issue, language, timezone, article set) rendered; `personalise` makes each
    recipient's bytes. Only dates depend on the timezone, and a list's readers live in a
    handful of zones, so this adds a few renders per issue, not one per recipient."""

    def __init__(
        self, cfg: Config, lcfg: ListConfig, number: int, window_end: datetime, lang: str,
        articles: Sequence[Article], *, key: str, date: datetime | None = None,
        tz: str | None = None, subject_prefix: str = "",
    ) -> None:
        self.lcfg, self.key = lcfg, key
        tz = tz or lcfg.timezone
        self.base_url = cfg.site.base_url.rstrip("/")
        nonce = secrets.token_hex(6)
        mark = {m: f"%%PUB-{nonce}-{m}%%" for m in _MARKERS}
        html_body, text_body = render_bodies(
            cfg, lcfg, number, window_end, lang, articles, greeting=mark["GREETING"],
            view_url=archive_url(cfg, lang, lcfg.slug, number),
            unsubscribe_url=mark["UNSUBSCRIBE"], preferences_url=mark["PREFERENCES"], tz=tz,
        )
        pattern = re.compile("(" + "|".join(re.escape(v) for v in mark.values()) + ")")
        names = {v: k for k, v in mark.items()}
        # Even positions are static text, odd positions are marker names.
        self._html = _Base64Body([names.get(p, p) for p in pattern.split(html_body)])
        self._text = _Base64Body([names.get(p, p) for p in pattern.split(text_body)])
        self._hello_named = gettext(lang, "Hello, %(name)s!")
        self._hello = gettext(lang, "Hello!")
        self.subject = subject_prefix + subject(lcfg, number, window_end, lang, tz)
        sender_name, self.sender = parseaddr(lcfg.from_address or cfg.mail.from_address)
        domain = check_header("domain", cfg.mail.domain)
        self.boundary = f"=_pub_{secrets.token_hex(12)}"
        date_value = format_datetime(date or utcnow())
        self._head = "".join(
            f"{k}: {v}\r\n" for k, v in (
                ("From", format_address(sender_name, self.sender)),
                ("Subject", encode_words(check_header("Subject", self.subject))),
                ("Date", date_value),
                ("List-Id", f"<{check_header('List-Id', lcfg.slug)}.{domain}>"),
            )
        ).encode("utf-8")
        mailto = check_header("mailto", cfg.mail.unsubscribe_mailto)
        self._mailto = f",\r\n <mailto:{mailto}?subject=unsubscribe>" if mailto else ""
        self._tail_head = (
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            f"Content-Language: {lang}\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative; boundary="{self.boundary}"\r\n\r\n'
        ).encode("ascii")
        b = self.boundary.encode("ascii")
        self._part_text = (
            b"--" + b + b'\r\nContent-Type: text/plain; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        self._part_html = (
            b"\r\n--" + b + b'\r\nContent-Type: text/html; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        self._end = b"\r\n--" + b + b"--\r\n"
        # Per recipient only CR/LF-free header values (check_header, format_address, links
        # under base_url) and base64 lines are added, none of which can start a line with a
        # period or break one: when the fixed parts are in wire form, so is every message.
        blank = dict.fromkeys(_MARKERS, "")
        fixed = b"".join((
            self._head, self._tail_head, self._part_text, self._text.render(blank),
            self._part_html, self._html.render(blank), self._end,
        ))
        self._wire = in_wire_form(fixed) and not ("\r" in self.base_url or "\n" in self.base_url)

    def links(self, token_id: str) -> tuple[str, str]:
        unsub = tokens.make(self.key, "unsubscribe", token_id, self.lcfg.slug)
        prefs = tokens.make(self.key, "preferences", token_id, self.lcfg.slug)
        return f"{self.base_url}/unsubscribe/{unsub}", f"{self.base_url}/preferences/{prefs}"

    def personalise(self, rcpt: Recipient) -> bytes:
        """The complete message for one recipient (CRLF line ends, ready for SMTP DATA)."""
        to = format_address(rcpt.name, rcpt.email)
        check_header("Message-ID", rcpt.message_id)
        unsub, prefs = self.links(rcpt.token_id)
        hello = self._hello_named % {"name": rcpt.name} if rcpt.name else self._hello
        text_vals = {"GREETING": hello, "UNSUBSCRIBE": unsub, "PREFERENCES": prefs}
        html_vals = {"GREETING": html.escape(hello), "UNSUBSCRIBE": unsub, "PREFERENCES": prefs}
        head = (
            f"To: {to}\r\nMessage-ID: <{rcpt.message_id}>\r\n"
            f"List-Unsubscribe: <{unsub}>{self._mailto}\r\n"
        ).encode()
        data = b"".join((
            self._head, head, self._tail_head, self._part_text,
            self._text.render(text_vals), self._part_html,
            self._html.render(html_vals), self._end,
        ))
        return WireMessage(data) if self._wire else data


def message_id(
    cfg: Config, list_slug: str, number: int, delivery_id: int, issue_created: datetime
) -> str:
    """Stable per delivery, so a retry after a dropped connection can be deduplicated.

    Delivery ids and issue numbers start again in a reset or new store; the issue's
    creation instant (microseconds, stored with it) does not, so a receiver never sees
    an earlier message's id on a new one.
    """
    return f"{list_slug}.{number}.{delivery_id}.{_stamp(issue_created)}@{cfg.mail.domain}"


@lru_cache(maxsize=64)
def _stamp(issue_created: datetime) -> str:
    # The same for every delivery of an issue: formatted once per issue, not per message.
    return issue_created.astimezone(UTC).strftime("%Y%m%d%H%M%S%f")


def load_articles(session: Any, ids: Sequence[str]) -> list[Article]:
    """Articles by id, in the given order (missing ones, e.g. deleted, are skipped)."""
    from sqlalchemy import select

    found = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(list(ids))))}
    return [found[i] for i in ids if i in found]


def archive_path(cfg: Config, lang: str, list_slug: str, number: int) -> Any:
    return cfg.site_dir / lang / "digests" / list_slug / str(number) / "index.html"


def write_archive(cfg: Config, store: Any, issue_id: int) -> list[Any]:
    """Write the issue's web archive copy per language (no personal links in it)."""
    written = []
    with store.session() as s:
        issue = s.get(DigestIssue, issue_id)
        if issue is None:
            return []
        mlist = s.get(MailingList, issue.list_id)
        if mlist is None:
            return []
        slug = mlist.slug
        lcfg = cfg.get_list(slug)
        for lang, ids in sorted(issue.articles.items()):
            html_body, _ = render_bodies(
                cfg, lcfg, issue.number, issue.window_end, lang, load_articles(s, ids),
                greeting=gettext(lang, "Hello!"), view_url="", unsubscribe_url="",
                preferences_url="", archive=True,
            )
            path = archive_path(cfg, lang, slug, issue.number)
            write_text(path, html_body)
            written.append(path)
    return written
