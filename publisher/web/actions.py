"""What the web endpoints change in the store: double opt-in, confirm, unsubscribe, preferences.

A pending confirmation is identified by the instant its subscriptions were marked pending
(carried in the confirm token): a newer request or a later unsubscribe makes an older link
stale, so no schema column is needed to keep at most one confirmation alive per address.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher import LANGUAGES
from publisher.store.models import MailingList, Subscriber, Subscription
from publisher.subscribers.registry import by_email, by_token_id, ensure_list, subscription_of

log = logging.getLogger("publisher.web")

# A second request for an address within this time sends nothing (the first email is
# probably still on its way); after it, a new link replaces the old one.
RESEND_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Confirmation:
    """A confirmation email to send: to whom, in which language, for which lists."""

    email: str
    name: str
    language: str
    token_id: str
    extra: str  # goes into the signed token: "<stamp>|<language>|<slug,slug>"
    lists: tuple[str, ...]


def _stamp(value: datetime) -> str:
    return str(int(value.timestamp() * 1_000_000))


def _lists_by_slug(session: Session, slugs: Sequence[str]) -> dict[str, MailingList]:
    found = session.scalars(select(MailingList).where(MailingList.slug.in_(slugs)))
    return {m.slug: m for m in found}


def request_subscription(
    session: Session, email: str, *, name: str, language: str, timezone: str,
    lists: Sequence[str], now: datetime,
) -> Confirmation | None:
    """Record a double opt-in request; None when no email should go out.

    Nothing is sent when the address is already active on every requested list, or when
    a confirmation went out less than RESEND_AFTER ago. A new link makes the older one
    stale, so at most one confirmation link per address works at any time.
    """
    sub = by_email(session, email)
    if sub is None:
        sub = Subscriber(
            email=email, name=name, language=language, timezone=timezone, status="pending",
            token_id=secrets.token_hex(16), created_at=now, updated_at=now, confirmed_at=None,
        )
        session.add(sub)
        session.flush()
    rows = {s: subscription_of(session, sub.id, ensure_list(session, s, now).id) for s in lists}
    recent = now - RESEND_AFTER
    pending = [r for r in rows.values() if r is not None and r.status == "pending"]
    if any(r.updated_at > recent for r in pending):
        return None
    wanted = [
        s for s, r in rows.items() if sub.status != "active" or r is None or r.status != "active"
    ]
    if not wanted:
        return None
    for slug in wanted:
        row = rows[slug]
        if row is None:
            mlist = ensure_list(session, slug, now)
            session.add(Subscription(
                subscriber_id=sub.id, list_id=mlist.id, status="pending", cursor=now,
                created_at=now, updated_at=now,
            ))
        else:
            row.status, row.updated_at = "pending", now
    session.flush()
    extra = f"{_stamp(now)}|{language}|{','.join(wanted)}"
    return Confirmation(sub.email, sub.name or name, language, sub.token_id, extra, tuple(wanted))


@dataclass(frozen=True)
class Outcome:
    """What a link did (or would do): `state` is done | pending | already | stale | unknown."""

    state: str
    language: str
    lists: tuple[str, ...] = ()


def _confirmable(
    session: Session, token_id: str, extra: str
) -> tuple[Subscriber | None, str, list[Subscription], Outcome]:
    """The subscriber, the language, the rows a link would activate, and the outcome if none."""
    try:
        stamp, language, slugs = extra.split("|", 2)
    except ValueError:
        return None, "", [], Outcome("unknown", "")
    sub = by_token_id(session, token_id)
    if sub is None or language not in LANGUAGES:
        return None, "", [], Outcome("unknown", language if language in LANGUAGES else "")
    wanted = tuple(s for s in slugs.split(",") if s)
    mlists = _lists_by_slug(session, wanted)
    pending: dict[str, Subscription] = {}
    already = []
    for slug in wanted:
        mlist = mlists.get(slug)
        row = subscription_of(session, sub.id, mlist.id) if mlist is not None else None
        if row is None:
            continue
        if row.status == "pending" and _stamp(row.updated_at) == stamp:
            pending[slug] = row
        elif row.status == "active" and sub.status == "active":
            already.append(slug)
    if pending:
        return sub, language, list(pending.values()), Outcome("pending", language, tuple(pending))
    if already and len(already) == len(wanted):
        return sub, language, [], Outcome("already", sub.language, tuple(already))
    return sub, language, [], Outcome("stale", sub.language)


def confirm_state(session: Session, token_id: str, extra: str) -> Outcome:
    """What a confirm link would do, changing nothing: pending | already | stale | unknown."""
    return _confirmable(session, token_id, extra)[3]


def confirm(session: Session, token_id: str, extra: str, now: datetime) -> Outcome:
    """Activate the subscriptions a confirm link was made for; idempotent on a second click."""
    sub, language, rows, outcome = _confirmable(session, token_id, extra)
    if sub is None or not rows:
        return outcome
    for row in rows:
        # The cursor starts at confirmation: a new subscriber gets what comes after.
        row.status, row.cursor, row.updated_at = "active", now, now
    sub.status, sub.language, sub.confirmed_at, sub.updated_at = "active", language, now, now
    return Outcome("done", language, outcome.lists)


def unsubscribe(session: Session, token_id: str, list_slug: str, now: datetime) -> Outcome:
    """Leave one list (every list when the token names none); repeating it changes nothing."""
    sub = by_token_id(session, token_id)
    if sub is None:
        return Outcome("unknown", "")
    query = (
        select(Subscription, MailingList)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == sub.id)
    )
    if list_slug:
        query = query.where(MailingList.slug == list_slug)
    changed: list[str] = []
    for row, mlist in session.execute(query):
        if row.status != "unsubscribed":
            row.status, row.updated_at = "unsubscribed", now
            changed.append(mlist.slug)
    return Outcome("done" if changed else "already", sub.language, tuple(changed) or (list_slug,))


@dataclass(frozen=True)
class Preferences:
    email: str
    name: str
    language: str
    timezone: str
    status: str
    lists: dict[str, str]  # slug -> subscription status


def preferences(session: Session, token_id: str) -> Preferences | None:
    sub = by_token_id(session, token_id)
    if sub is None:
        return None
    query = (
        select(MailingList.slug, Subscription.status)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == sub.id)
    )
    lists = {slug: status for slug, status in session.execute(query)}
    return Preferences(sub.email, sub.name, sub.language, sub.timezone, sub.status, lists)


def update_preferences(
    session: Session, token_id: str, *, language: str | None, timezone: str | None,
    lists: Sequence[str], offered: Sequence[str], now: datetime,
) -> Preferences | None:
    """Apply the preferences form: ticked lists active, unticked offered lists unsubscribed.

    Ticking a list again is an explicit choice by the holder of a link from their own
    mailbox, so it re-activates; a bounced or complained address stays suppressed.
    """
    sub = by_token_id(session, token_id)
    if sub is None:
        return None
    sub.language = language or sub.language
    sub.timezone = timezone or sub.timezone
    # From now on these are the subscriber's: a CSV import keeps them (csvfile "kept").
    sub.updated_at = sub.prefs_changed_at = now
    for slug in offered:
        mlist = ensure_list(session, slug, now)
        row = subscription_of(session, sub.id, mlist.id)
        if slug in lists:
            if row is None:
                session.add(Subscription(
                    subscriber_id=sub.id, list_id=mlist.id, status="active", cursor=now,
                    created_at=now, updated_at=now,
                ))
            elif row.status != "active":
                row.status, row.cursor, row.updated_at = "active", now, now
        elif row is not None and row.status != "unsubscribed":
            row.status, row.updated_at = "unsubscribed", now
    if lists and sub.status == "unsubscribed":
        sub.status = "active"
    session.flush()
    return preferences(session, token_id)


def expected_preferences(
    current: Preferences, *, language: str | None, timezone: str | None,
    lists: Sequence[str], offered: Sequence[str],
) -> Preferences:
    """What `update_preferences` will show once applied (the answer to a journaled form)."""
    states = dict(current.lists)
    for slug in offered:
        if slug in lists:
            states[slug] = "active"
        elif slug in states:
            states[slug] = "unsubscribed"
    status = "active" if lists and current.status == "unsubscribed" else current.status
    return Preferences(
        current.email, current.name, language or current.language,
        timezone or current.timezone, status, states,
    )


# --- the journal (web/journal.py): actions recorded while the store was busy -------------


def journal_entry(kind: str, token_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "token_id": token_id, "at": at.isoformat(), **fields}


def apply_entry(session: Session, entry: dict[str, Any]) -> None:
    """Store one journaled action as of the time it was made; a malformed entry is skipped."""
    try:
        kind, token_id = entry["kind"], entry["token_id"]
        at = datetime.fromisoformat(entry["at"])
        if kind == "unsubscribe":
            unsubscribe(session, token_id, entry["list"], at)
        elif kind == "confirm":
            confirm(session, token_id, entry["extra"], at)
        elif kind == "preferences":
            update_preferences(
                session, token_id, language=entry["language"], timezone=entry["timezone"],
                lists=entry["lists"], offered=entry["offered"], now=at,
            )
        else:
            raise ValueError(f"unknown kind {kind!r}")
    except (KeyError, TypeError, ValueError) as exc:
        log.error("journal entry skipped (%s): %r", exc, entry)
