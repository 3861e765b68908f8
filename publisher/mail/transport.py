"""Where messages go: a Maildir outbox (the embedded default) or SMTP through aiosmtplib.

Every transport answers each message with an `Outcome` that the delivery ledger turns
into a state: `accepted` (the server's 250), `temporary` (4xx, a timeout, no connection),
`permanent` (5xx) or `dropped` (the connection died after DATA: possibly delivered).
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Literal, Protocol

import aiosmtplib

from publisher.core.config import Config
from publisher.core.errors import PublisherError
from publisher.mail.message import ascii_domain
from publisher.mail.smtpclient import Client

Kind = Literal["accepted", "temporary", "permanent", "dropped"]


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    code: int
    reply: str

    @property
    def hard_bounce(self) -> bool:
        """A permanent "bad mailbox" answer (enhanced status 5.1.x): the address is dead."""
        return self.kind == "permanent" and self.reply.lstrip().startswith("5.1.")

    def describe(self) -> str:
        text = f"{self.code} {self.reply}" if self.code else self.reply
        return text.strip()[:500]


def envelope(sender: str, recipient: str) -> tuple[str, str, bool]:
    """(MAIL FROM, RCPT TO, needs SMTPUTF8): domains in IDNA form, which every server takes;
    only a non-ASCII local part needs the SMTPUTF8 extension (RFC 6531)."""
    if sender.isascii() and recipient.isascii():
        return sender, recipient, False  # nearly every message: nothing to convert
    sender, recipient = ascii_domain(sender), ascii_domain(recipient)
    utf8 = not (sender.isascii() and recipient.isascii())
    return sender, recipient, utf8


class Transport(Protocol):
    connections: int

    async def send(self, sender: str, recipient: str, message: bytes) -> Outcome: ...

    async def close(self) -> None: ...


class MaildirTransport:
    """One file per message in a Maildir (tmp/ then rename into new/), named *.eml."""

    connections = 1

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self._seq = count()
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")

    def deliver(self, message: bytes) -> Path:
        # Maildir's unique name: time, pid and a counter, host; ".eml" for desktop clients.
        name = f"{time.time_ns()}.P{os.getpid()}Q{next(self._seq)}.{self._host}.eml"
        tmp = self.root / "tmp" / name
        with open(tmp, "wb") as fh:
            fh.write(message.replace(b"\r\n", b"\n"))
            fh.flush()
            os.fsync(fh.fileno())
        final = self.root / "new" / name
        os.replace(tmp, final)
        return final

    async def send(self, sender: str, recipient: str, message: bytes) -> Outcome:
        self.deliver(message)
        return Outcome("accepted", 250, "stored in maildir")

    async def close(self) -> None:
        return None


class RateLimiter:
    """At most `rate` sends per second over all connections (0: unlimited)."""

    def __init__(self, rate: float) -> None:
        self.interval = 0.0
        self._next = 0.0
        self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        """Change the limit while sending (a worker's share as workers come and go)."""
        self.interval = 1.0 / rate if rate > 0 else 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class SmtpTransport:
    """A pool of persistent SMTP connections; each `send` borrows one for one message.

    A connection that broke is dropped from the pool and a fresh one is opened for the
    next message, so a server restart costs one deferred message per connection.
    """

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.connections = max(1, cfg.smtp.connections)
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP | None] = asyncio.LifoQueue()
        for _ in range(self.connections):
            self._idle.put_nowait(None)
        self.limiter = RateLimiter(cfg.smtp.rate)
        self._password = cfg.smtp_password

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.cfg.smtp
        client = Client(
            hostname=s.host, port=s.port, timeout=s.timeout,
            use_tls=s.tls == "tls", start_tls=s.tls == "starttls",
            tls_context=ssl.create_default_context() if s.tls != "none" else None,
        )
        await client.connect()
        if s.username:
            if self._password is None:
                await client.quit()
                raise PublisherError(
                    f"[smtp] username {s.username!r} is set but no password",
                    "export PUBLISHER_SMTP__PASSWORD",
                )
            await client.login(s.username, self._password)
        return client

    async def send(self, sender: str, recipient: str, message: bytes) -> Outcome:
        await self.limiter.wait()
        client = await self._idle.get()
        try:
            if client is None or not client.is_connected:
                try:
                    client = await self._connect()
                except aiosmtplib.SMTPAuthenticationError as exc:
                    client = None
                    raise PublisherError(
                        f"SMTP login refused: {exc.code} {exc.message}",
                        "check [smtp] username and PUBLISHER_SMTP__PASSWORD",
                    ) from None
                except (aiosmtplib.SMTPException, OSError) as exc:
                    client = None
                    return Outcome("temporary", 0, f"cannot connect: {exc}")
            outcome = await self._transaction(client, sender, recipient, message)
            if outcome.kind in ("dropped",) or not client.is_connected:
                client.close()
                client = None
            return outcome
        finally:
            self._idle.put_nowait(client)

    async def _transaction(
        self, client: aiosmtplib.SMTP, sender: str, recipient: str, message: bytes
    ) -> Outcome:
        phase = "envelope"
        try:
            sender, rcpt, utf8 = envelope(sender, recipient)
            if utf8 and client.is_ehlo_or_helo_needed:
                await client.ehlo()  # the extensions are known only after EHLO
            if utf8 and not client.supports_extension("smtputf8"):
                return Outcome("permanent", 0, f"not sent: the server does not support "
                               f"SMTPUTF8, which the address {recipient} needs")
            encoding = "utf-8" if utf8 else "ascii"
            await client.mail(sender, options=["SMTPUTF8"] if utf8 else None, encoding=encoding)
            await client.rcpt(rcpt, encoding=encoding)
            phase = "data"
            reply = await client.data(message)
            return Outcome("accepted", reply.code, reply.message)
        except aiosmtplib.SMTPResponseException as exc:
            kind: Kind = "permanent" if 500 <= exc.code < 600 else "temporary"
            if client.is_connected:
                try:
                    await client.rset()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
            return Outcome(kind, exc.code, exc.message)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            client.close()
            if phase == "data":
                return Outcome("dropped", 0, f"connection lost after DATA: {exc}")
            return Outcome("temporary", 0, f"connection lost: {exc}")
        except Exception as exc:
            # Anything else is about this one message (an address the client cannot encode,
            # say). The connection may be mid-transaction: close it so the next message
            # starts clean, and fail this delivery alone. After DATA it may have arrived.
            client.close()
            reason = f"{type(exc).__name__}: {exc}"
            if phase == "data":
                return Outcome("dropped", 0, f"error after DATA: {reason}")
            return Outcome("permanent", 0, f"not sent: {reason}")

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()


def open_transport(cfg: Config) -> Transport:
    """The configured transport: Maildir at cfg.outbox_dir, or an SMTP connection pool."""
    if cfg.mail.transport == "smtp":
        return SmtpTransport(cfg)
    return MaildirTransport(cfg.outbox_dir)
