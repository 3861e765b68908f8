"""Where bounce reports wait: Maildir folders, single .eml files (and folders of them), or
an IMAP mailbox ([bounces] imap_*; the password only from PUBLISHER_BOUNCES__PASSWORD).

Each message is acted on in its own transaction, then put away so it is never read again:
a Maildir message to cur/ with the Seen flag (":2,S"), a loose file into processed/
beside it, an IMAP message flagged Seen. What cannot be read or matched goes to
unmatched/ beside it (IMAP: flagged Seen and Flagged), counted, never fatal. The store
commits before the move; a crash in between leaves the message in place, and the report's
fingerprint in the store makes the next run skip it as a duplicate.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from publisher.core.config import SECRET_ENV, Config
from publisher.core.errors import ConfigError, PublisherError
from publisher.mail.bounces import apply

log = logging.getLogger("publisher.bounces")


@dataclass
class Summary:
    processed: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    unmatched: int = 0
    duplicates: int = 0

    def count(self, outcome: str) -> None:
        self.processed += 1
        if outcome == "hard":
            self.hard += 1
        elif outcome == "soft":
            self.soft += 1
        elif outcome == "complaint":
            self.complaints += 1
        elif outcome == "duplicate":
            self.duplicates += 1
        else:
            self.unmatched += 1

    def add(self, other: Summary) -> None:
        for name, value in other.as_dict().items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {"processed": self.processed, "hard": self.hard, "soft": self.soft,
                "complaints": self.complaints, "unmatched": self.unmatched,
                "duplicates": self.duplicates}

    def line(self) -> str:
        return (f"{self.processed} report(s) processed: {self.hard} hard bounce(s), "
                f"{self.soft} soft, {self.complaints} complaint(s), {self.unmatched} unmatched, "
                f"{self.duplicates} already seen")


def is_maildir(path: Path) -> bool:
    return path.is_dir() and ((path / "new").is_dir() or (path / "cur").is_dir())


def _seen(name: str) -> bool:
    _, info, flags = name.partition(":2,")
    return bool(info) and "S" in flags


def pending(path: Path) -> Iterator[tuple[Path, Path, bool]]:
    """(message, folder its unmatched/ and processed/ live in, is a Maildir message)."""
    if is_maildir(path):
        for sub in ("new", "cur"):
            folder = path / sub
            if not folder.is_dir():
                continue
            for item in sorted(folder.iterdir()):
                if item.is_file() and not item.name.startswith(".") and not _seen(item.name):
                    yield item, path, True
    elif path.is_dir():
        for item in sorted(path.glob("*.eml")):
            if item.is_file():
                yield item, path, False
    else:
        yield path, path.parent, False


def _unique(target: Path) -> Path:
    n, found = 1, target
    while found.exists():
        found = target.with_name(f"{target.stem}.{n}{target.suffix}")
        n += 1
    return found


def _move(item: Path, home: Path, maildir: bool, outcome: str) -> None:
    if outcome == "unmatched":
        folder = home / "unmatched"
        folder.mkdir(exist_ok=True)
        os.replace(item, _unique(folder / item.name))
    elif maildir:
        base, _, flags = item.name.partition(":2,")
        new_flags = "".join(sorted(set(flags) | {"S"}))
        os.replace(item, home / "cur" / f"{base}:2,{new_flags}")
    else:
        folder = home / "processed"
        folder.mkdir(exist_ok=True)
        os.replace(item, _unique(folder / item.name))


def _apply(cfg: Config, store: Any, raw: bytes, key: str | None, source: str) -> str:
    try:
        with store.session() as s:
            return apply(cfg, s, raw, key=key, source=source)
    except IntegrityError:
        # Another run (the service's poll, a manual `bounces process`) stored the same
        # report a moment ago: its fingerprint is taken, so this one is a duplicate.
        return "duplicate"


def process_one(
    cfg: Config, store: Any, item: Path, home: Path, maildir: bool, key: str | None
) -> str:
    """Read, act on and move one message; returns its outcome (see bounces.apply)."""
    try:
        raw = item.read_bytes()
    except OSError as exc:
        log.warning("%s: cannot read: %s", item, exc)
        outcome = "unmatched"
    else:
        outcome = _apply(cfg, store, raw, key, str(item))
    try:
        _move(item, home, maildir, outcome)
    except OSError as exc:  # counted all the same; the store's fingerprint prevents a recount
        log.warning("%s: cannot move it aside: %s", item, exc)
    return outcome


def process_paths(cfg: Config, store: Any, paths: list[Path], key: str | None) -> Summary:
    summary = Summary()
    for path in paths:
        for item, home, maildir in list(pending(path)):
            summary.count(process_one(cfg, store, item, home, maildir, key))
    return summary


def process_imap(cfg: Config, store: Any, key: str | None) -> Summary:
    """Act on the unseen messages of [bounces] imap_folder, flagging each one Seen."""
    b = cfg.bounces
    if not (b.imap_host and b.imap_username):
        raise ConfigError("[bounces] imap_host and imap_username are not set",
                          "set them in publisher.toml to read bounces over IMAP")
    password = cfg.bounces_password
    if password is None:
        raise ConfigError("no IMAP password", f"export {SECRET_ENV['bounces_password']}")
    summary = Summary()
    where = f"imap://{b.imap_username}@{b.imap_host}:{b.imap_port}/{b.imap_folder}"
    try:
        conn = (imaplib.IMAP4_SSL if b.imap_tls else imaplib.IMAP4)(
            b.imap_host, b.imap_port, timeout=30
        )
    except (imaplib.IMAP4.error, OSError) as exc:
        raise PublisherError(f"{where}: cannot connect: {exc}") from None
    try:
        conn.login(b.imap_username, password)
        if conn.select(b.imap_folder)[0] != "OK":
            raise PublisherError(f"{where}: no such folder", "check [bounces] imap_folder")
        _, found = conn.uid("SEARCH", None, "UNSEEN")  # type: ignore[arg-type]
        for uid in (found[0] or b"").split() if found else []:
            _, parts = conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if isinstance(raw, bytes):
                outcome = _apply(cfg, store, raw, key, f"{where};UID={uid.decode()}")
            else:
                outcome = "unmatched"
            flags = r"(\Seen \Flagged)" if outcome == "unmatched" else r"(\Seen)"
            conn.uid("STORE", uid.decode(), "+FLAGS", flags)
            summary.count(outcome)
    except (imaplib.IMAP4.error, OSError) as exc:
        raise PublisherError(
            f"{where}: {exc}", "check [bounces] imap_* and PUBLISHER_BOUNCES__PASSWORD"
        ) from None
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()
    return summary
