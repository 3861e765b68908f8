"""Mail test helpers: a real SMTP server in the test process (aiosmtpd) with switchable
faults, and builders for articles and subscribers."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiosmtpd.controller import Controller

from publisher.store.articles import (
    Block,
    ParsedArticle,
    TextInput,
    article_id,
    normalise_key,
    save,
)
from publisher.subscribers import registry as subscribers

_MESSAGE_ID = re.compile(rb"^Message-ID: <([^>\r\n]+)>", re.MULTILINE | re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector:
    """Accepts everything unless the recipient's local part asks for a fault.

    temp...@  -> 451 at RCPT         gone...@  -> 550 5.1.1 at RCPT
    full...@  -> 552 5.2.2 at DATA   drop...@  -> connection dropped after DATA (every time)
    flaky...@ -> dropped after DATA the first time, accepted after
    `delay` seconds pass before the 250 (a killed client never gets it: nothing recorded).
    `attempted` keeps every DATA attempt (a dropped one too) as (recipient, message bytes).
    `hold()`: from then on DATA is left unanswered and never recorded (until `release()`, when
    it is refused with 451), so a client killed while held has no 250 it could not mark.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.attempts: Counter[str] = Counter()
        self.attempted: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self._held = threading.Event()

    def hold(self) -> None:
        self._held.set()

    def release(self) -> None:
        self._held.clear()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        local = address.split("@")[0]
        if local.startswith("temp"):
            return "451 4.3.0 Try again later"
        if local.startswith("gone"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        local = rcpt.split("@")[0]
        with self.lock:
            self.attempts[rcpt] += 1
            self.attempted.append((rcpt, envelope.content))
            tries = self.attempts[rcpt]
        if local.startswith("full"):
            return "552 5.2.2 Mailbox full"
        if local.startswith("drop") or (local.startswith("flaky") and tries == 1):
            # abort(), not close(): close() still flushes what is written next, and the
            # reply below could then reach the client as a 421 instead of a lost connection.
            server.transport.abort()
            return "421 closing"
        if self.delay:
            await asyncio.sleep(self.delay)
        if self._held.is_set():  # checked after the delay too: a held answer is never given
            while self._held.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 Held by the test"
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Queued"

    def message_ids(self, rcpt: str) -> list[str]:
        """The Message-ID of each DATA attempt to `rcpt`, in order."""
        with self.lock:
            sent = [data for to, data in self.attempted if to == rcpt]
        return [m.group(1).decode() if (m := _MESSAGE_ID.search(data)) else "" for data in sent]

    def received(self) -> Counter[str]:
        with self.lock:
            return Counter(r for _, rcpts, _ in self.messages for r in rcpts)


@contextmanager
def smtp_server(
    delay: float = 0.0, handler: Any = None, *, smtputf8: bool = False, port: int = 0
) -> Iterator[tuple[Any, int]]:
    """An aiosmtpd server on 127.0.0.1 (on `port`, or a free one) with `handler` (default: a
    Collector); `smtputf8` makes it advertise SMTPUTF8 (RFC 6531). It refuses lines over
    1,000 bytes, as Postfix does."""
    handler = Collector(delay) if handler is None else handler
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# -- store builders ----------------------------------------------------------------------

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def article(store: Any, title: str, *, lang: str = "kk", at: datetime = T0,
            translations: dict[str, str] | None = None, body: str = "") -> str:
    """Save an article published and imported at `at`, with ready translations (lang -> title)."""
    parsed = ParsedArticle(
        title=title, blocks=[Block("paragraph", body or f"{title}: мәтін / текст / text.")],
        lang=lang, date=at,
        translations={
            k: TextInput(title=v, blocks=[Block("paragraph", f"{v}.")])
            for k, v in (translations or {}).items()
        },
    )
    with store.session() as s:
        save(s, parsed, now=at)
    return article_id(normalise_key(title))


def subscriber(store: Any, email: str, lang: str, *, at: datetime = T0 - timedelta(days=1),
               name: str = "", list_slug: str = "weekly") -> None:
    with store.session() as s:
        subscribers.add(s, email, list_slug=list_slug, language=lang, name=name, now=at)
