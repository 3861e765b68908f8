"""The SMTP client subclass: what reaches the server is byte for byte what stock aiosmtplib
sends, and its answers and errors are the same; only the needless work is skipped."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiosmtplib
import pytest
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.core.config import Config
from publisher.mail.message import DigestMessage, Recipient, WireMessage, in_wire_form
from publisher.mail.smtpclient import Client, quoted
from tests.helpers.mail import T0, article

DIGEST_LIKE = (
    b"From: News <news@example.kz>\r\nSubject: =?utf-8?b?0J3QvtCy0L7RgdGC0Lg=?=\r\n"
    b"\r\n" + b"QUJD" * 19 + b"\r\n" + b"REVG" * 10 + b"\r\n"
)
SAMPLES = [
    DIGEST_LIKE,
    WireMessage(DIGEST_LIKE),
    b"Subject: lone LF\n\nline one\nline two\n",
    b"Subject: lone CR\r\rbody\r",
    b"Subject: mixed\r\n\nbody\rend",
    b".starts with a period\r\nand\r\n.. two\r\n.\r\n",
    b"Subject: no final line break\r\n\r\nbody",
    b"",
]


def upstream_prepared(data: bytes) -> bytes:
    """The payload aiosmtplib's own DATA sends for `data` (before the final ".")."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data))


class RawServer:
    """A scripted SMTP server that records every byte each connection sends.

    `replies` overrides the answer to a command (by its verb, or "DOT" for the end of DATA);
    an empty answer hangs up instead.
    """

    def __init__(self, replies: dict[str, bytes] | None = None) -> None:
        self.replies = {"EHLO": b"250-raw\r\n250 8BITMIME\r\n", "MAIL": b"250 ok\r\n",
                        "RCPT": b"250 ok\r\n", "DATA": b"354 go\r\n", "DOT": b"250 queued\r\n",
                        "RSET": b"250 ok\r\n", "QUIT": b"221 bye\r\n", **(replies or {})}
        self.transcripts: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen = bytearray()
        self.transcripts.append(b"")
        writer.write(b"220 raw ready\r\n")
        in_data = False
        try:
            while line := await reader.readline():
                seen += line
                self.transcripts[-1] = bytes(seen)
                if in_data and line != b".\r\n":
                    continue
                verb = "DOT" if in_data else line[:4].decode("ascii", "replace").upper()
                reply = self.replies.get(verb, b"500 what\r\n")
                if not reply or verb == "QUIT":
                    writer.write(reply)
                    break
                writer.write(reply)
                in_data = verb == "DATA" and reply.startswith(b"354")
        finally:
            writer.close()
            await writer.wait_closed()


async def _session(
    factory: Callable[..., aiosmtplib.SMTP], server: RawServer,
    body: Callable[[aiosmtplib.SMTP], Awaitable[Any]],
) -> Any:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        client = factory(hostname="127.0.0.1", port=port, timeout=10, start_tls=False,
                         local_hostname="client.test")
        await client.connect()
        try:
            return await body(client)
        finally:
            if client.is_connected:
                await client.quit()
    finally:
        listener.close()
        await listener.wait_closed()


def both(
    body: Callable[[aiosmtplib.SMTP], Awaitable[Any]], replies: dict[str, bytes] | None = None,
) -> tuple[tuple[Any, bytes], tuple[Any, bytes]]:
    """(result or exception, transcript) of `body` run with stock aiosmtplib, then Client."""
    out = []
    for factory in (aiosmtplib.SMTP, Client):
        server = RawServer(replies)

        async def run(factory: Callable[..., aiosmtplib.SMTP] = factory,
                      server: RawServer = server) -> Any:
            try:
                return await _session(factory, server, body)
            except aiosmtplib.SMTPException as exc:
                return (type(exc), str(exc))

        result = asyncio.run(run())
        out.append((result, b"".join(server.transcripts)))
    return out[0], out[1]


@pytest.mark.parametrize("message", SAMPLES, ids=range(len(SAMPLES)))
def test_every_message_reaches_the_server_byte_for_byte_as_aiosmtplib_sends_it(
    message: bytes,
) -> None:
    """A message goes over the wire exactly as stock aiosmtplib would send it, odd ones too."""

    async def send(client: aiosmtplib.SMTP) -> Any:
        await client.mail("news@news.example.kz")
        await client.rcpt("reader@example.org")
        return await client.data(message)

    stock, ours = both(send)
    assert ours == stock
    assert upstream_prepared(message) + b".\r\n" in ours[1]


def test_addresses_that_need_parsing_are_sent_as_aiosmtplib_sends_them() -> None:
    """Display names, quoted local parts and options go out as stock aiosmtplib writes them."""

    async def send(client: aiosmtplib.SMTP) -> Any:
        await client.mail("News <news@news.example.kz>", options=["BODY=8BITMIME"])
        await client.rcpt('"odd local"@example.org')
        await client.rcpt("plain.reader+tag@example.org")
        return await client.data(DIGEST_LIKE)

    stock, ours = both(send)
    assert ours == stock
    assert b"MAIL FROM:<news@news.example.kz> BODY=8BITMIME\r\n" in ours[1]


@pytest.mark.parametrize(("verb", "reply", "error"), [
    ("MAIL", b"451 4.3.0 later\r\n", aiosmtplib.SMTPSenderRefused),
    ("RCPT", b"550 5.1.1 no such user\r\n", aiosmtplib.SMTPRecipientRefused),
    ("DATA", b"554 5.5.1 no valid recipients\r\n", aiosmtplib.SMTPDataError),
    ("DOT", b"552 5.2.2 mailbox full\r\n", aiosmtplib.SMTPDataError),
])
def test_a_refusal_raises_the_same_error_as_aiosmtplib(
    verb: str, reply: bytes, error: type[Exception],
) -> None:
    """A refused MAIL, RCPT, DATA or message gives the same error and reason as stock."""

    async def send(client: aiosmtplib.SMTP) -> Any:
        await client.mail("news@news.example.kz")
        await client.rcpt("reader@example.org")
        return await client.data(WireMessage(DIGEST_LIKE))

    stock, ours = both(send, {verb: reply})
    assert ours == stock
    assert ours[0][0] is error


def test_a_lost_connection_during_data_is_reported_and_the_client_closed() -> None:
    """A server that hangs up after the message raises SMTPServerDisconnected, as stock does."""

    async def send(client: aiosmtplib.SMTP) -> Any:
        await client.mail("news@news.example.kz")
        await client.rcpt("reader@example.org")
        try:
            return await client.data(WireMessage(DIGEST_LIKE))
        finally:
            assert not client.is_connected

    stock, ours = both(send, {"DOT": b""})
    assert ours[0] == stock[0]
    assert ours[0][0] is aiosmtplib.SMTPServerDisconnected


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"\r\n."]), max_size=12))
def test_wire_form_is_exactly_what_aiosmtplib_would_leave_unchanged(pieces: list[bytes]) -> None:
    """The skip applies only to bytes aiosmtplib's preparation would return unchanged."""
    data = b"".join(pieces)
    assert in_wire_form(data) == (upstream_prepared(data) == data)


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,6}"
_PLAIN = rf"{_ATOM}(\.{_ATOM}){{0,2}}@[A-Za-z0-9-]{{1,6}}(\.[A-Za-z0-9-]{{1,6}}){{0,2}}"


@settings(max_examples=300, deadline=None)
@given(st.from_regex(re.compile(_PLAIN), fullmatch=True))
def test_plain_addresses_are_quoted_as_aiosmtplib_quotes_them(address: str) -> None:
    """A plain address is written in MAIL FROM / RCPT TO exactly as aiosmtplib writes it."""
    assert quoted(address) == quote_address(address)


@pytest.mark.parametrize("address", [
    "News <news@example.kz>", '"a b"@example.org', "a..b@example.org", ".a@example.org",
    "a@example..org", "алия@пример.kz", "a@b c", "a <b@c>", "",
])
def test_other_addresses_are_left_to_aiosmtplib(address: str) -> None:
    """Anything but a plain address is parsed (or refused) by aiosmtplib itself."""
    assert quoted(address) is None


@pytest.mark.parametrize("name", [
    "", ".Dot First", "Айгүл Серікқызы", 'Quote "q" and \\', "x" * 300, "Ω" * 90,
])
def test_every_personalised_digest_is_sent_without_rewriting(cfg: Config, name: str) -> None:
    """Each recipient's digest is already as SMTP sends it: nothing is rewritten or added."""
    from publisher.mail.message import load_articles
    from publisher.store.engine import open_store

    st_ = open_store(cfg)
    try:
        ids = [article(st_, "Жаңа зертхана ашылды", lang="kk",
                       translations={"ru": "Открылась лаборатория", "en": "A lab opens"})]
        with st_.session() as s:
            msg = DigestMessage(cfg, cfg.lists[0], 3, T0, "kk", load_articles(s, ids),
                                key="test-signing-key")
    finally:
        st_.close()
    data = msg.personalise(Recipient("reader@example.org", name, "tok0123", "w.3.1@news.kz"))
    assert type(data) is WireMessage
    assert in_wire_form(data)
    assert upstream_prepared(data) == data
