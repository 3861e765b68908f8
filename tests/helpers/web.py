"""Helpers shared by the web tests: an app on a temp store, reading the Maildir outbox."""

from __future__ import annotations

import asyncio
import email
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from publisher.core import config
from publisher.core.config import Config

KEY = "test-signing-key-0123456789abcdef"
TWO_LISTS = """
[[lists]]
slug = "weekly"
title = { kk = "Апталық дайджест", ru = "Еженедельный дайджест", en = "Weekly digest" }
[[lists]]
slug = "events"
title = { kk = "Іс-шаралар", ru = "События", en = "Events" }
"""


def two_lists_config(folder: Path, store_url: str = "") -> Config:
    """weekly and events, data_dir under `folder`, on `store_url` (default: SQLite there)."""
    toml = folder / "publisher.toml"
    toml.write_text(TWO_LISTS, encoding="utf-8")
    env = {"PUBLISHER_DATA_DIR": str(folder / "var")}
    if store_url:
        env["PUBLISHER_STORE__URL"] = store_url
    return config.load(toml, environ=env)


@contextmanager
def store_locked(cfg: Config) -> Iterator[None]:
    """Another client holds the write lock: SQLite's, or PostgreSQL's on subscriptions."""
    url = cfg.store_url
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as pg:
            # Readers pass (ACCESS SHARE); any INSERT, UPDATE or DELETE on it waits.
            pg.execute(text("LOCK TABLE subscriptions, subscribers IN EXCLUSIVE MODE"))
            yield
            pg.rollback()
    finally:
        engine.dispose()
LINK = re.compile(r"https?://\S+/(confirm|unsubscribe|preferences)/([A-Za-z0-9_.\-]+)")


def outbox(cfg: Config) -> list[EmailMessage]:
    """Every message in the Maildir outbox, oldest first."""
    new = cfg.outbox_dir / "new"
    files = sorted(new.glob("*.eml"), key=lambda p: p.name) if new.is_dir() else []
    return [_parse(p) for p in files]


def _parse(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link(msg: EmailMessage, kind: str = "confirm") -> str:
    """The path (/confirm/<token>) of the first link of `kind` in the plain-text body."""
    for found in LINK.finditer(text_of(msg)):
        if found.group(1) == kind:
            return f"/{kind}/{found.group(2)}"
    raise AssertionError(f"no {kind} link in {text_of(msg)!r}")


def recipient(msg: EmailMessage) -> str:
    """The bare address of the To header ("Name <a@b>" -> "a@b")."""
    return str(msg["To"].addresses[0].addr_spec)


class Client:
    """A synchronous face over httpx.AsyncClient(transport=ASGITransport(app))."""

    def __init__(self, app: Any, ip: str = "192.0.2.10") -> None:
        self.app = app
        self.ip = ip
        self.cookies = httpx.Cookies()

    def request(self, method: str, url: str, *, ip: str | None = None, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(ip or self.ip, 40000))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://news.test",
                cookies=self.cookies,
            ) as client:
                response = await client.request(method, url, **kw)
                self.cookies = client.cookies
                return response

        return asyncio.run(go())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)


def cli_env(cfg: Config, folder: Path) -> dict[str, str]:
    """The environment that runs `publisher` on the store and lists of two_lists_config()."""
    env = {"PUBLISHER_CONFIG": str(folder / "publisher.toml"),
           "PUBLISHER_DATA_DIR": str(cfg.data_dir)}
    if cfg.store.url:
        env["PUBLISHER_STORE__URL"] = cfg.store.url
    return env
