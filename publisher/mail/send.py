"""One-off sending: the signing key for links, and `send` = resume open issues + today's issue."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from publisher.core.config import Config
from publisher.core.console import warn
from publisher.mail.delivery import SendReport, drain
from publisher.mail.digest import create_issue, next_issue, open_issues
from publisher.mail.message import DigestMessage, Recipient
from publisher.mail.transport import Outcome, open_transport
from publisher.subscribers import tokens


def signing_key(cfg: Config) -> str:
    """PUBLISHER_SECRET_KEY; the demo key only for a Maildir outbox under the default ./var.

    Links signed with the public demo key could unsubscribe anyone, so real mail (SMTP, or
    any data_dir someone chose on purpose) needs the configured key.
    """
    if cfg.secret_key:
        return cfg.secret_key
    if cfg.mail.transport == "maildir" and cfg.data_dir == Path("var"):
        warn("PUBLISHER_SECRET_KEY is not set: links in the outbox use the public demo key")
        return tokens.secret_key(None, demo=True)
    return tokens.secret_key(None)


async def send_list(
    cfg: Config, store: Any, list_slug: str, *, key: str, show_progress: bool = False
) -> tuple[int | None, SendReport]:
    """Resume the list's open issues, then create today's issue and deliver it."""
    created = create_issue(cfg, store, list_slug)
    total = SendReport()
    for issue_id in open_issues(store, list_slug):
        part = await drain(cfg, store, issue_id=issue_id, show_progress=show_progress, key=key)
        for name in ("sent", "deferred", "failed", "bounced", "cancelled", "possibly_delivered"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
        total.duration += part.duration
        total.issues.extend(part.issues)
        total.failures.extend(part.failures)
    return created, total


async def send_test(
    cfg: Config, store: Any, list_slug: str, lang: str, address: str, *, key: str
) -> tuple[Outcome, str]:
    """The list's next issue in `lang`, marked [TEST], to one address.

    Nothing is recorded: no issue, no delivery, no cursor, so the real send is unchanged.
    Returns the server's answer and the subject sent.
    """
    lcfg = cfg.get_list(list_slug)
    nxt = next_issue(cfg, store, list_slug, lang)
    msg = DigestMessage(cfg, lcfg, nxt.number, nxt.window_end, lang, nxt.articles, key=key,
                        subject_prefix="[TEST] ")
    mid = f"test.{list_slug}.{nxt.number}.{uuid.uuid4().hex}@{cfg.mail.domain}"
    data = msg.personalise(Recipient(address, "", "test", mid))
    tx = open_transport(cfg)
    try:
        return await tx.send(msg.sender, address, data), msg.subject
    finally:
        await tx.close()
