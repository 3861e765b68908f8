"""Bounce and complaint reports: read one, find the delivery it answers, act on it.

- DSNs (RFC 3464, multipart/report; report-type=delivery-status) and ARF complaints
  (RFC 5965, report-type=feedback-report) are read with the stdlib; any other shape goes
  to flufl.bounce, Mailman 3's detectors for the non-standard bounces of old MTAs.
- The delivery: the VERP tag of an address the report was sent to (mail/verp.py), else a
  recipient the report names matched with that subscriber's deliveries, else the quoted
  Message-ID of the original message.
- Hard (5.x.x): the delivery and the subscriber become `bounced`. Soft (4.x.x): counted;
  [bounces] soft_limit of them within soft_window_days suppress the subscriber. Complaint:
  unsubscribed from the list that sent the message (status `complained` when no list is
  left). Every report is a row of bounce_events, keyed by content, so a rerun is a no-op.
"""

from __future__ import annotations

import email
import email.parser
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from email.utils import getaddresses
from typing import Any

from flufl.bounce import all_failures
from sqlalchemy import func, select

from publisher.core.config import Config
from publisher.mail.verp import delivery_of
from publisher.store.models import (
    BounceEvent,
    Delivery,
    DigestIssue,
    MailingList,
    Subscriber,
    Subscription,
    utcnow,
)

log = logging.getLogger("publisher.bounces")

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MSGID = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
# Headers that carry where the report was delivered: the VERP address, when we set one.
_TO_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
SUPPRESSIBLE = ("active", "pending")


@dataclass
class Report:
    """What one message says: its kind, about whom, and the clues to the delivery."""

    kind: str = ""  # hard | soft | complaint; "" when it is no report we understand
    status: str = ""  # enhanced status code (complaints: the feedback type)
    reason: str = ""
    recipients: list[str] = field(default_factory=list)  # the addresses that failed
    verp: list[str] = field(default_factory=list)  # addresses that may carry our tag
    message_ids: list[str] = field(default_factory=list)  # of the original message


def _addresses(values: list[str]) -> list[str]:
    return [addr for _, addr in getaddresses(values) if "@" in addr]


def _field_address(value: str) -> str:
    """ "rfc822; user@example.org" -> "user@example.org"."""
    _, _, rest = str(value).partition(";")
    return (rest or str(value)).strip().strip("<>").strip()


def _original(msg: Message) -> Message | None:
    """The quoted original message (or its headers), the first one in the report."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            text = part.get_payload(decode=True) or b""
            return email.parser.BytesHeaderParser().parsebytes(bytes(text))
    return None


def _blocks(msg: Message, ctype: str) -> list[Message]:
    for part in msg.walk():
        if part.get_content_type() == ctype:
            payload = part.get_payload()
            if isinstance(payload, list):
                return [b for b in payload if isinstance(b, Message)]
            # Some MTAs send the fields base64-encoded: parse the decoded text as headers.
            text = bytes(part.get_payload(decode=True) or b"")
            return [email.parser.BytesHeaderParser().parsebytes(chunk)
                    for chunk in re.split(rb"\r?\n\r?\n", text) if chunk.strip()]
    return []


def _dsn(report: Report, blocks: list[Message]) -> None:
    worst = ("", "", "")  # (kind, status, reason)
    for block in blocks[1:]:
        action = str(block.get("Action", "")).strip().lower()
        if action in ("delivered", "relayed", "expanded"):
            continue
        m = _STATUS.search(str(block.get("Status", "")))
        status = ".".join(m.groups()) if m else ("5.0.0" if action == "failed" else "")
        if not status or status.startswith("2"):
            continue
        kind = "hard" if status.startswith("5") and action != "delayed" else "soft"
        diag = " ".join(str(block.get("Diagnostic-Code", "")).split())
        _, _, diag = diag.partition(";") if diag.lower().startswith("smtp;") else ("", "", diag)
        addr = _field_address(block.get("Final-Recipient", "") or "")
        orig = _field_address(block.get("Original-Recipient", "") or "")
        report.recipients += [a for a in (orig, addr) if "@" in a]
        if not worst[0] or (kind == "hard" and worst[0] == "soft"):
            worst = (kind, status, diag.strip() or f"{action or 'failed'} ({status})")
    report.kind, report.status, report.reason = worst


def _arf(report: Report, blocks: list[Message]) -> None:
    fields = blocks[0] if blocks else Message()
    ftype = str(fields.get("Feedback-Type", "abuse")).strip().lower() or "abuse"
    agent = " ".join(str(fields.get("User-Agent", "")).split())
    report.kind, report.status = "complaint", ftype[:16]
    report.reason = f"complaint ({ftype})" + (f" from {agent}" if agent else "")
    report.recipients += _addresses(fields.get_all("Original-Rcpt-To") or [])
    report.recipients += _addresses(fields.get_all("Removal-Recipient") or [])
    report.verp += _addresses(fields.get_all("Original-Mail-From") or [])


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    return payload.decode("latin-1") if isinstance(payload, bytes) else ""


def _non_standard(report: Report, msg: Message) -> None:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector tripping over a broken message: not a bounce we know
        log.debug("flufl.bounce failed on a message", exc_info=True)
        return
    if not (temporary or permanent):
        return
    body = " ".join(_text(p) for p in msg.walk() if p.get_content_maintype() == "text")
    m = _STATUS.search(body)
    if permanent:
        report.kind, found = "hard", permanent
        report.status = ".".join(m.groups()) if m and m.group(1) == "5" else "5.0.0"
    else:
        report.kind, found = "soft", temporary
        report.status = ".".join(m.groups()) if m and m.group(1) == "4" else "4.0.0"
    report.recipients += [a.decode("utf-8", "replace") for a in sorted(found)]
    subject = " ".join(str(msg.get("Subject", "")).split())
    report.reason = f"{report.kind} bounce ({report.status})" + (f": {subject}" if subject else "")


def parse(raw: bytes) -> Report:
    """Read one message; Report.kind is "" for anything that is no bounce or complaint."""
    msg = email.message_from_bytes(raw)
    report = Report()
    for name in _TO_HEADERS:
        report.verp += _addresses([str(v) for v in msg.get_all(name) or []])
    original = _original(msg)
    if original is not None:
        report.verp += _addresses([str(v) for v in original.get_all("Return-Path") or []])
        report.message_ids += _MSGID.findall(str(original.get("Message-ID", "")))
    rtype = msg.get_param("report-type", header="content-type") if msg.is_multipart() else None
    feedback = _blocks(msg, "message/feedback-report")
    if feedback or str(rtype).lower() == "feedback-report":
        _arf(report, feedback)
    elif blocks := _blocks(msg, "message/delivery-status") or _blocks(
        msg, "message/global-delivery-status"
    ):
        _dsn(report, blocks)
    if not report.kind:
        _non_standard(report, msg)
    if original is not None and not report.recipients:
        report.recipients += _addresses([str(v) for v in original.get_all("To") or []])
    return report


def fingerprint(raw: bytes) -> str:
    # Line endings differ between a Maildir and an IMAP fetch of the same report.
    return hashlib.sha256(raw.replace(b"\r\n", b"\n").strip()).hexdigest()


@dataclass(frozen=True)
class _Target:
    subscriber: Subscriber
    delivery: Delivery | None
    list_slug: str


def _target(session: Any, report: Report, key: str | None) -> _Target | None:
    """The subscriber and delivery a report is about (see the module docstring for order)."""
    for address in report.verp if key else []:
        d_id = delivery_of(address, key or "")
        if d_id is not None and (d := session.get(Delivery, d_id)) is not None:
            return _with_list(session, d)
    deliveries_by_mid = []
    for mid in report.message_ids:
        deliveries_by_mid += session.scalars(select(Delivery).where(Delivery.message_id == mid))
    for address in report.recipients:
        sub = session.scalar(
            select(Subscriber).where(func.lower(Subscriber.email) == address.strip().lower())
        )
        if sub is None:
            continue
        for d in deliveries_by_mid:
            if d.subscriber_id == sub.id:
                return _with_list(session, d)
        latest = session.scalar(
            select(Delivery).where(Delivery.subscriber_id == sub.id, Delivery.sent_at.is_not(None))
            .order_by(Delivery.sent_at.desc(), Delivery.id.desc()).limit(1)
        )
        if latest is not None:
            return _with_list(session, latest)
        # Never mailed: a report naming them is not about our mail (or is forged).
    if deliveries_by_mid:
        return _with_list(session, deliveries_by_mid[0])
    return None


def _with_list(session: Any, delivery: Delivery) -> _Target:
    sub = session.get(Subscriber, delivery.subscriber_id)
    slug = session.scalar(
        select(MailingList.slug).join(DigestIssue, DigestIssue.list_id == MailingList.id)
        .where(DigestIssue.id == delivery.issue_id)
    )
    return _Target(sub, delivery, slug or "")


def apply(
    cfg: Config, session: Any, raw: bytes, *, key: str | None, source: str = "",
    now: datetime | None = None,
) -> str:
    """Act on one message: "hard", "soft", "complaint", "duplicate" or "unmatched"."""
    now = now or utcnow()
    mark = fingerprint(raw)
    if session.scalar(select(BounceEvent.id).where(BounceEvent.fingerprint == mark)):
        return "duplicate"
    try:
        report = parse(raw)
    except Exception:  # whatever a broken message does to a parser, it is just unreadable
        log.warning("%s: cannot parse the message", source or "report", exc_info=True)
        return "unmatched"
    if not report.kind:
        return "unmatched"
    target = _target(session, report, key)
    if target is None:
        return "unmatched"
    sub, delivery = target.subscriber, target.delivery
    session.add(BounceEvent(
        fingerprint=mark, kind=report.kind, subscriber_id=sub.id,
        delivery_id=delivery.id if delivery else None, list_slug=target.list_slug,
        email=sub.email, status=report.status, reason=report.reason[:1000], source=source,
        created_at=now,
    ))
    if report.kind == "hard":
        if delivery is not None:
            delivery.state, delivery.updated_at = "bounced", now
            delivery.last_reply = f"bounce report: {report.reason}"[:500]
        if sub.status in SUPPRESSIBLE:
            sub.status, sub.updated_at = "bounced", now
    elif report.kind == "soft":
        session.flush()
        since = now - timedelta(days=cfg.bounces.soft_window_days)
        count = session.scalar(
            select(func.count()).select_from(BounceEvent).where(
                BounceEvent.subscriber_id == sub.id, BounceEvent.kind == "soft",
                BounceEvent.created_at >= since,
            )
        ) or 0
        if count >= cfg.bounces.soft_limit and sub.status in SUPPRESSIBLE:
            sub.status, sub.updated_at = "bounced", now
            session.add(BounceEvent(
                fingerprint=hashlib.sha256(f"{mark}:limit".encode()).hexdigest(),
                kind="suppressed", subscriber_id=sub.id, email=sub.email,
                delivery_id=delivery.id if delivery else None, list_slug=target.list_slug,
                status=report.status, source=source, created_at=now,
                reason=f"{count} soft bounces within {cfg.bounces.soft_window_days:g} days "
                       f"(last: {report.reason})"[:1000],
            ))
    else:
        _complaint(session, sub, target.list_slug, now)
    return report.kind


def _complaint(session: Any, sub: Subscriber, list_slug: str, now: datetime) -> None:
    rows = session.execute(
        select(Subscription, MailingList.slug)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == sub.id)
    ).all()
    for subscription, slug in rows:
        # The list of an issue that no longer exists is unknown: every list, to be safe.
        if (not list_slug or slug == list_slug) and subscription.status != "unsubscribed":
            subscription.status, subscription.updated_at = "unsubscribed", now
    if all(s.status == "unsubscribed" for s, _ in rows) and sub.status in SUPPRESSIBLE:
        sub.status, sub.updated_at = "complained", now

