"""Subscribers, lists and subscriptions: normalising and the no-reactivation rule."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher import LANGUAGES
from publisher.models import MailingList, Subscriber, Subscription, utcnow

# Statuses a CSV import or an admin `add` must never turn back into active:
# only a new double opt-in may do that.
SUPPRESSED = ("unsubscribed", "bounced", "complained")

LANGUAGE_ALIASES = {
    "kk": "kk", "kaz": "kk", "kz": "kk", "kk-kz": "kk", "kk_kz": "kk", "қазақша": "kk",
    "қазақ": "kk", "қазақ тілі": "kk", "kazakh": "kk", "казахский": "kk",
    "ru": "ru", "rus": "ru", "ru-ru": "ru", "ru_ru": "ru", "русский": "ru", "орысша": "ru",
    "russian": "ru",
    "en": "en", "eng": "en", "en-us": "en", "en-gb": "en", "english": "en", "английский": "en",
    "ағылшынша": "en",
}  # fmt: skip


class AddressError(ValueError):
    """The address is not a syntactically valid email address."""


def normalise_email(raw: str) -> str:
    """Syntax check (no DNS) and normal form: NFC, lower-case domain, IDNA-safe."""
    if "\r" in raw or "\n" in raw:
        raise AddressError("line break in address")
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressError(str(exc)) from None
    local, _, domain = result.normalized.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalise_language(raw: str | None) -> str | None:
    """kk/ru/en from the many ways people write them; None when unknown."""
    if raw is None:
        return None
    key = " ".join(raw.strip().casefold().split())
    return LANGUAGE_ALIASES.get(key) or (key if key in LANGUAGES else None)


def ensure_list(session: Session, slug: str, now: datetime | None = None) -> MailingList:
    found = session.scalar(select(MailingList).where(MailingList.slug == slug))
    if found is None:
        found = MailingList(slug=slug, created_at=now or utcnow())
        session.add(found)
        session.flush()
    return found


def by_email(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def by_token_id(session: Session, token_id: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.token_id == token_id))


@dataclass(frozen=True)
class AddResult:
    subscriber: Subscriber
    outcome: str  # added | updated | unchanged | skipped (suppressed address)


def add(
    session: Session, email: str, *, list_slug: str, language: str, name: str = "",
    timezone: str = "Asia/Almaty", status: str = "active", now: datetime | None = None,
) -> AddResult:
    """Add or update a subscriber and subscribe them to `list_slug`.

    An address that unsubscribed, bounced or complained is left as it is ("skipped").
    A new subscription's cursor starts now: a new subscriber gets only what comes after.
    """
    now = now or utcnow()
    email = normalise_email(email)
    mlist = ensure_list(session, list_slug, now)
    sub = by_email(session, email)
    outcome = "unchanged"
    if sub is not None and sub.status in SUPPRESSED:
        return AddResult(sub, "skipped")
    if sub is None:
        sub = Subscriber(
            email=email, name=name, language=language, timezone=timezone, status=status,
            token_id=secrets.token_hex(16), created_at=now, updated_at=now,
            confirmed_at=now if status == "active" else None,
        )
        session.add(sub)
        session.flush()
        outcome = "added"
    elif (sub.name, sub.language, sub.timezone) != (name or sub.name, language, timezone):
        sub.name, sub.language, sub.timezone, sub.updated_at = name or sub.name, language, timezone, now
        outcome = "updated"
    subscription = session.scalar(
        select(Subscription).where(Subscription.subscriber_id == sub.id, Subscription.list_id == mlist.id)
    )
    if subscription is None:
        session.add(Subscription(
            subscriber_id=sub.id, list_id=mlist.id, status="active" if status == "active" else "pending",
            cursor=now, created_at=now, updated_at=now,
        ))
        outcome = "added" if outcome == "added" else "updated"
    return AddResult(sub, outcome)
